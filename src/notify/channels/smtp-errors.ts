export interface SmtpFailure {
  readonly permanent: boolean;
  readonly reason: string;
}

/**
 * SMTP 5xx replies are permanent (unknown recipient, rejected sender, failed auth): retrying
 * sends the same thing. 4xx replies and connection errors are transient.
 */
export function classifySmtpError(error: unknown): SmtpFailure {
  const e = (typeof error === "object" && error !== null ? error : {}) as {
    responseCode?: unknown;
    code?: unknown;
    response?: unknown;
    message?: unknown;
  };
  const responseCode = typeof e.responseCode === "number" ? e.responseCode : null;
  const detail =
    typeof e.response === "string" ? e.response : typeof e.message === "string" ? e.message : String(error);
  const reason = `${typeof e.code === "string" ? `${e.code}: ` : ""}${detail}`;
  return { permanent: responseCode !== null && responseCode >= 500 && responseCode < 600, reason };
}
