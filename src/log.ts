import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Logs go to stderr, so that stdout carries only what a command prints (the dry-run plan).
 * pino-pretty is loaded only for the text format: JSON logs need none of it.
 */
export async function createLogger(format: 'json' | 'text', level: string): Promise<Logger> {
  if (format === 'json')
    return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }));
  const { default: pretty } = await import('pino-pretty');
  const stream = pretty({
    destination: 2,
    sync: true,
    colorize: false,
    ignore: 'pid,hostname',
    translateTime: 'SYS:HH:MM:ss',
  });
  return pino({ level, base: undefined }, stream);
}
