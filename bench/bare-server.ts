// The baseline: @octokit/webhooks verifying the signature on bare node:http, nothing stored.
import { createServer } from "node:http";
import { Webhooks } from "@octokit/webhooks";

const secret = process.env.GITHUB_WEBHOOK_SECRET ?? "";
const port = Number(process.env.PORT ?? 0);
const webhooks = new Webhooks({ secret });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const signature = req.headers["x-hub-signature-256"];
    void webhooks.verify(body, typeof signature === "string" ? signature : "").then(
      (valid) => {
        res.writeHead(valid ? 202 : 401, { "content-type": "application/json" });
        res.end(valid ? '{"accepted":1}' : '{"error":"invalid_signature"}');
      },
      () => {
        res.writeHead(400).end();
      },
    );
  });
});
server.keepAliveTimeout = 5000;
server.listen(port, "127.0.0.1");
