// A task that does nothing, like Chronicle's bench.noop handler.
module.exports = async () => {};
