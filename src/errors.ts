/** A problem that ends the program before it changes anything, with one line to show. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An answer of the API server other than 2xx: its status and the message of its Status body. */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly code: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${code}${reasonOf(body) ? `: ${reasonOf(body)}` : ''}`);
  }
}

function reasonOf(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { message?: string }).message;
  } catch {
    return body.slice(0, 200) || undefined;
  }
}

/** The HTTP status of an API error, when it has one. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A one-line description of an error, without stack or response body dump. */
export function message(err: unknown): string {
  const status = statusOf(err);
  const body = (err as { body?: unknown } | null)?.body;
  if (status !== undefined) {
    const reason = typeof body === 'string' ? reasonOf(body) : undefined;
    return `HTTP ${status}${reason ? `: ${reason}` : ''}`;
  }
  const cause = (err as { cause?: { code?: string } } | null)?.cause;
  const base = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  return cause?.code ? `${base} (${cause.code})` : base;
}
