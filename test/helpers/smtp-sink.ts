import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface SinkMail {
  readonly envelopeTo: readonly string[];
  readonly parsed: ParsedMail;
  readonly raw: string;
}

export interface SmtpSink {
  readonly url: string;
  readonly mails: SinkMail[];
  /** answers RCPT TO for this address with 550 (a permanent recipient error), or again with 250 */
  rejectRecipient(address: string, rejected?: boolean): void;
  /** answers the next `times` RCPT TO for this address with 450 (greylisting, a full mailbox) */
  deferRecipient(address: string, times?: number): void;
  /** answers the next `times` DATA commands with 451 (a transient error) */
  failNext(times?: number): void;
  /** answers the next RCPT TO only after `ms`: a slow mail server (a mail is recorded only if the client carries on) */
  delayNextRecipient(ms: number): void;
  /** takes the server down as a crash would: stops listening and drops open connections */
  stop(): Promise<void>;
  /** listens again on the same port, keeping what arrived so far */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A local SMTP server that accepts everything (no TLS, no auth) and records each mail. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const mails: SinkMail[] = [];
  const rejected = new Set<string>();
  const deferred = new Map<string, number>();
  let transientFailures = 0;
  const recipientDelays: number[] = [];
  let stopping = false;
  const create = () =>
    new SMTPServer({
      // pooled client connections are dropped at once, not after the default 30 s
      closeTimeout: 100,
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onRcptTo(address, _session, callback) {
        const delay = recipientDelays.shift();
        if (delay !== undefined) {
          setTimeout(() => callback(), delay);
          return;
        }
        if (rejected.has(address.address.toLowerCase())) {
          const error = Object.assign(new Error("5.1.1 no such user"), { responseCode: 550 });
          callback(error);
          return;
        }
        const deferrals = deferred.get(address.address.toLowerCase()) ?? 0;
        if (deferrals > 0) {
          deferred.set(address.address.toLowerCase(), deferrals - 1);
          callback(Object.assign(new Error("4.2.0 greylisted, try again later"), { responseCode: 450 }));
          return;
        }
        callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          if (transientFailures > 0) {
            transientFailures--;
            callback(Object.assign(new Error("4.3.0 try again later"), { responseCode: 451 }));
            return;
          }
          const raw = Buffer.concat(chunks).toString("utf8");
          simpleParser(raw)
            .then((parsed) => {
              // a mail finished while the server goes down gets no answer the client could see
              if (stopping) {
                callback(Object.assign(new Error("4.3.2 shutting down"), { responseCode: 421 }));
                return;
              }
              mails.push({ envelopeTo: session.envelope.rcptTo.map((rcpt) => rcpt.address), parsed, raw });
              callback();
            })
            .catch((error: Error) => callback(error));
        });
      },
    });
  let server = create();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    rejectRecipient: (address, reject = true) => {
      if (reject) rejected.add(address.toLowerCase());
      else rejected.delete(address.toLowerCase());
    },
    deferRecipient: (address, times = 1) => {
      const key = address.toLowerCase();
      deferred.set(key, (deferred.get(key) ?? 0) + times);
    },
    failNext: (times = 1) => {
      transientFailures += times;
    },
    delayNextRecipient: (ms) => {
      recipientDelays.push(ms);
    },
    stop: () => {
      stopping = true;
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
    start: async () => {
      stopping = false;
      server = create();
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
