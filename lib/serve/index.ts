/** `vggnet serve`: the HTTP server (fastify) over one classifier. See server.ts. */
export { buildServer, VggServer, ServeOptions, DEFAULT_SERVE_OPTIONS } from './server';
export { ServeState } from './state';
export { ErrorBody, HttpErrorCode } from './errors';
