import pino from 'pino';

export type Logger = pino.Logger;

/** Structured logs; tokens and message bodies never reach them. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.query.access_token',
        '*.token',
        '*.access_token',
        '*.refresh_token',
        '*.body',
        'body',
      ],
      censor: '[redacted]',
    },
  });
}
