// Preloaded with `node --require` into the suite's origin server, whose `server.listen(port)` would bind every
// interface: a listen() given only a port (and maybe a callback) binds 127.0.0.1 instead. The suite's files are
// not changed.
'use strict'
const net = require('net')

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const onlyPort = /^\d+$/.test(String(args[0])) && (args.length === 1 || typeof args[1] === 'function')
  if (onlyPort) {
    return listen.call(this, Number(args[0]), '127.0.0.1', ...args.slice(1))
  }
  return listen.apply(this, args)
}
