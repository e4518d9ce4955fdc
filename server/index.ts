/** server/: the assembly of the daemon — broker, call bridge (and its media relay) and web pages in one server. */
export { createServer, CallServer, type ServerOptions } from './create-server.js'
