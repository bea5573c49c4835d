// @exo/ws-server: the WebSocket adapter around @exo/room-core, for embedding (createExoServer)
// and as the daemon (main.ts).

export { AUTH_SUBPROTOCOL_PREFIX, type JwtSettings, jwtAuthenticator, tokenOf } from './auth.js';
export { configFromEnv, ENV_VARS, EnvError, type LogLevel, type ServerConfig } from './config.js';
export { type Authenticator, authenticatorFor, type DaemonWiring, serverOptions } from './daemon-options.js';
export { createHealthServer, type HealthSource } from './http.js';
export { type Logger, silentLogger } from './log.js';
export { createServerMetrics, type MetricsOptions, type ServerMetrics } from './metrics.js';
export { type HubObserver, noopObserver } from './observer.js';
export { type OpsRoutes, type OpsRoutesOptions, opsRoutes } from './ops-routes.js';
export { type Authenticated, createExoServer, type ExoServer, type ExoServerOptions } from './server.js';
