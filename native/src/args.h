// Argument parsing for the N-API functions: Args reads positional arguments and remembers the
// first error, which is thrown once as a JavaScript TypeError/RangeError.
#pragma once

#include <node_api.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pld_native {

template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
};
using F32 = View<float>;
using I32 = View<int32_t>;

class Args {
 public:
  Args(napi_env env, napi_callback_info cb, const char* fn, size_t expected) : env_(env), fn_(fn) {
    argc_ = kMax;
    if (napi_get_cb_info(env, cb, &argc_, argv_, nullptr, nullptr) != napi_ok) Fail("cannot read arguments");
    if (argc_ != expected) Fail("takes " + std::to_string(expected) + " arguments, got " + std::to_string(argc_));
  }

  // A Float32Array (on an ArrayBuffer or a SharedArrayBuffer); null/undefined when nullable.
  F32 Array(const char* name, bool nullable = false) { return Typed<float>(name, napi_float32_array, "a Float32Array", nullable); }

  I32 IntArray(const char* name) { return Typed<int32_t>(name, napi_int32_array, "an Int32Array", false); }

  // An array argument of Float32Arrays (the operands of a call over many tensors).
  bool ArrayList(const char* name, std::vector<F32>* out) {
    if (!ok_) return false;
    napi_value v = argv_[next_++];
    bool is_array = false;
    napi_is_array(env_, v, &is_array);
    uint32_t n = 0;
    if (is_array) napi_get_array_length(env_, v, &n);
    if (!is_array) Fail(std::string(name) + " must be an array of Float32Arrays", true);
    for (uint32_t i = 0; ok_ && i < n; i++) {
      napi_value e;
      napi_get_element(env_, v, i, &e);
      out->push_back(TypedValue<float>(e, name, napi_float32_array, "an array of Float32Arrays", false));
    }
    return ok_;
  }

  int64_t Int(const char* name) {
    int64_t v = 0;
    if (!ok_) return 0;
    if (napi_get_value_int64(env_, argv_[next_++], &v) != napi_ok || v < 0) Fail(std::string(name) + " must be a whole number >= 0", true);
    return v;
  }

  double Num(const char* name) {
    double v = 0;
    if (!ok_) return 0;
    if (napi_get_value_double(env_, argv_[next_++], &v) != napi_ok) Fail(std::string(name) + " must be a number", true);
    return v;
  }

  bool Bool(const char* name) {
    bool v = false;
    if (!ok_) return false;
    if (napi_get_value_bool(env_, argv_[next_++], &v) != napi_ok) Fail(std::string(name) + " must be a boolean", true);
    return v;
  }

  // Requires `a` to hold at least `n` elements.
  void Need(const F32& a, size_t n, const char* name) {
    if (ok_ && a.length < n) Fail(std::string(name) + " has " + std::to_string(a.length) + " elements, needs " + std::to_string(n));
  }

  void Fail(const std::string& msg, bool type_error = false) {
    if (!ok_) return;
    ok_ = false;
    const std::string text = std::string("pld_native.") + fn_ + ": " + msg;
    if (type_error) napi_throw_type_error(env_, nullptr, text.c_str());
    else napi_throw_range_error(env_, nullptr, text.c_str());
  }

  bool ok() const { return ok_; }

 private:
  template <typename T>
  View<T> Typed(const char* name, napi_typedarray_type want, const char* what, bool nullable) {
    if (!ok_) return View<T>();
    return TypedValue<T>(argv_[next_++], name, want, what, nullable);
  }

  template <typename T>
  View<T> TypedValue(napi_value v, const char* name, napi_typedarray_type want, const char* what, bool nullable) {
    View<T> out;
    napi_valuetype t;
    napi_typeof(env_, v, &t);
    if (nullable && (t == napi_null || t == napi_undefined)) return out;
    bool is_ta = false;
    napi_is_typedarray(env_, v, &is_ta);
    napi_typedarray_type type = napi_int8_array;
    void* data = nullptr;
    if (is_ta) napi_get_typedarray_info(env_, v, &type, &out.length, &data, nullptr, nullptr);
    if (!is_ta || type != want) {
      Fail(std::string(name) + " must be " + what, true);
      return View<T>();
    }
    out.data = static_cast<T*>(data);
    return out;
  }

  static constexpr size_t kMax = 20;
  napi_env env_;
  const char* fn_;
  size_t argc_ = 0;
  size_t next_ = 0;
  napi_value argv_[kMax];
  bool ok_ = true;
};

}  // namespace pld_native
