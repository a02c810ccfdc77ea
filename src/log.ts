import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** Logs go to stderr, so that stdout carries only what a command prints (the dry-run plan). */
export function createLogger(format: 'json' | 'text', level: string): Logger {
  if (format === 'json')
    return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }));
  const stream = pretty({
    destination: 2,
    sync: true,
    colorize: false,
    ignore: 'pid,hostname',
    translateTime: 'SYS:HH:MM:ss',
  });
  return pino({ level, base: undefined }, stream);
}
