// The logger the adapter writes to: pino's call shape (`log.info({ fields }, 'message')`), so a
// pino logger fits as is and an embedder can pass any object with these four methods.

export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
