/** An error the client caused or can act on: answered as `status` with a JSON body. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }

  toJSON(): { error: string; message: string } {
    return { error: this.code, message: this.message };
  }
}
