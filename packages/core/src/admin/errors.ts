import type { AdminErrorBody, AdminErrorCode, RestorePlan } from './api-types.js';

const STATUS: Record<AdminErrorCode, number> = {
  bad_parameter: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  cross_site: 403,
  method_not_allowed: 405,
  conflict: 409,
  unrestorable: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  unavailable: 503,
};

/** An error the route table answers with its stable body; anything else thrown becomes a 500 `internal`. */
export class AdminError extends Error {
  readonly code: AdminErrorCode;
  readonly parameter: string | undefined;
  /** Response headers that go with the error, e.g. `allow` for a 405. */
  readonly headers: Readonly<Record<string, string>>;
  /** A write's plan, when the write was refused because of it (conflicts, values it cannot put back). */
  readonly plan: RestorePlan | undefined;

  constructor(
    code: AdminErrorCode,
    message: string,
    parameter?: string,
    extra: { headers?: Record<string, string>; plan?: RestorePlan } = {},
  ) {
    super(message);
    this.name = 'AdminError';
    this.code = code;
    this.parameter = parameter;
    this.headers = extra.headers ?? {};
    this.plan = extra.plan;
  }

  get status(): number {
    return STATUS[this.code];
  }

  get body(): AdminErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.parameter === undefined ? {} : { parameter: this.parameter }),
        ...(this.plan === undefined ? {} : { plan: this.plan }),
      },
    };
  }
}

/** A 400 naming the parameter. */
export function badParameter(parameter: string, message: string): AdminError {
  return new AdminError('bad_parameter', `${parameter}: ${message}`, parameter);
}

export function notFound(message: string): AdminError {
  return new AdminError('not_found', message);
}
