// How a dashboard uses the generated types: typed documents, typed variables (Decimal and
// DateTime as strings), results with nullable payloads and per-mutation error codes. `tsc
// --strict` fails here when an operation or the schema changes in a way the SPA would notice.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";

import {
  DecideConversionRequestsDocument,
  ExportConversionRequestsDocument,
  ImportJobDocument,
  PartnerConversionsDocument,
  RaiseConversionRequestDocument,
  type CreateConversionRequestErrorCode,
  type RaiseConversionRequestMutationVariables,
} from "../generated/graphql";

async function execute<Result, Variables>(
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
): Promise<Result> {
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "include",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: Result; errors?: { message: string }[] };
  if (body.errors?.length || body.data === undefined) throw new Error(body.errors?.[0]?.message);
  return body.data;
}

function describe(code: CreateConversionRequestErrorCode): string {
  switch (code) {
    case "NEGATIVE_VALUE":
      return "The order value cannot be negative.";
    case "NOT_FOUND":
      return "This program is not available to you.";
    default:
      return `Could not raise the request (${code}).`;
  }
}

export async function raiseMissedOrder(programId: string, orderId: string): Promise<string> {
  const variables: RaiseConversionRequestMutationVariables = {
    input: {
      kind: "CREATE_NEW",
      programId,
      requested: {
        orderId,
        conversionTarget: "SALE_NEW_CUSTOMER",
        trackingTime: "2026-06-01T10:00:00Z",
        orderValue: "80.00",
      },
    },
  };
  const { createConversionRequest } = await execute(RaiseConversionRequestDocument, variables);
  const [first] = createConversionRequest.userErrors;
  if (first) return `${(first.field ?? []).join(".")}: ${describe(first.code)}`;
  const commission: string | undefined = createConversionRequest.conversionRequest?.commission?.amount;
  return commission ?? "no commission";
}

export async function firstPageOfConversions(): Promise<string[]> {
  const { conversions } = await execute(PartnerConversionsDocument, { first: 50 });
  return conversions.nodes.map((c) => `${c.orderId}: ${c.commission.amount} ${c.commission.currency}`);
}

export async function rejectAll(requestIds: string[], reason: string): Promise<number> {
  const { decideConversionRequests } = await execute(DecideConversionRequestsDocument, {
    input: {
      decisions: requestIds.map((requestId) => ({ requestId, decision: "REJECT" as const, reason })),
    },
  });
  return decideConversionRequests.results.filter((r) => r.userErrors.length === 0).length;
}

export async function exportAndPoll(): Promise<string | null> {
  const { exportConversionRequests } = await execute(ExportConversionRequestsDocument, {
    input: { format: "XLSX" },
  });
  return exportConversionRequests.export?.downloadUrl ?? null;
}

export async function importProgress(id: string): Promise<number | null> {
  const { node } = await execute(ImportJobDocument, { id });
  if (!node || !("progress" in node)) return null; // not an import, or not visible
  return node.progress.total === null ? null : node.progress.processed / node.progress.total;
}
