// Runs the official graphql-http server audits (GraphQL over HTTP conformance) against a live
// server and prints one JSON line per audit: {id, name, status, reason}.
//   node audit.mjs http://127.0.0.1:8000/graphql
// status: ok | notice (a MAY failed) | warn (a SHOULD failed) | error (a MUST failed).
// Exit code 1 when any MUST or SHOULD failed (tests/contract/test_graphql_http_audit.py).
import { auditServer } from "graphql-http";

const url = process.argv[2] ?? process.env.GRAPHQL_URL ?? "http://127.0.0.1:8000/graphql";
const results = await auditServer({ url });
for (const { id, name, status, reason } of results) {
  console.log(JSON.stringify({ id, name, status, reason: reason ?? null }));
}
const failed = results.filter((r) => r.status === "error" || r.status === "warn");
process.exit(failed.length ? 1 : 0);
