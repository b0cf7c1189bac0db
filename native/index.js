// Loads the compiled addon; src/backend/native.ts handles its absence.
module.exports = require('./build/Release/pld_native.node');
