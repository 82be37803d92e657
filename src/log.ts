import pino, { type Logger } from 'pino';
import type { LogLevel } from './config/types.js';

export type { Logger };

/** JSON lines on stdout: `level` as a word, `time` as ISO 8601, `msg`, then the fields. */
export function createLogger(level: LogLevel, destination: NodeJS.WritableStream | number = 1): Logger {
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination,
  );
}
