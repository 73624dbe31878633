/**
 * Errors as the OpenAI API returns them: an HTTP status and the body
 * `{"error":{"message","type","param","code"}}`. Route code throws {@link ApiError}; anything
 * else that escapes a handler becomes a 400 (a {@link Llama4Error}: the request was at fault, e.g.
 * a chat template that rejects the messages) or a 500.
 */
import { Llama4Error } from '../errors.js';

export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' |
  'rate_limit_error' | 'server_error' | 'unavailable_error';

export interface ApiErrorBody {
  readonly error: { readonly message: string; readonly type: ApiErrorType; readonly param: string | null; readonly code: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType = status >= 500 ? 'server_error' : 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get body(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 about one request field. */
export function badParam(param: string, message: string, code: string | null = 'invalid_value'): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

/** Any thrown value as an ApiError (Llama4Error → 400, the rest → 500). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof Llama4Error) return new ApiError(400, err.message, 'invalid_request_error', null, 'invalid_request');
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(500, `internal error: ${message}`, 'server_error', null, 'internal_error');
}
