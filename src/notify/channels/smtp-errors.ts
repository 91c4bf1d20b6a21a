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

export interface RefusedRecipient {
  readonly address: string;
  /** the server's reply, e.g. "550 5.1.1 no such user" */
  readonly reply: string;
  readonly permanent: boolean;
}

/**
 * The recipients the server refused in a send it otherwise took, each with its reply: a 4xx
 * (greylisting, a full mailbox) is worth another try, a 5xx is not.
 */
export function refusedRecipients(info: {
  rejected?: unknown;
  rejectedErrors?: unknown;
}): RefusedRecipient[] {
  const rejected = Array.isArray(info.rejected) ? info.rejected.map(String) : [];
  const errors = (Array.isArray(info.rejectedErrors) ? info.rejectedErrors : []) as Array<{
    recipient?: unknown;
    responseCode?: unknown;
    response?: unknown;
  }>;
  return rejected.map((address) => {
    const error = errors.find((candidate) => candidate.recipient === address);
    const code = typeof error?.responseCode === "number" ? error.responseCode : null;
    return {
      address,
      reply: typeof error?.response === "string" ? error.response : "refused",
      // a refusal without a reply code is not known to be final
      permanent: code !== null && code >= 500 && code < 600,
    };
  });
}
