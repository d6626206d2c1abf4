// GET /openapi.json: the API's OpenAPI 3.1 description (docs/openapi.yaml) as JSON. The JSON text
// is generated into openapi_document.ts (scripts/openapi.ts): the container image carries neither
// docs/ nor a YAML parser, and under Deno the frontend runs without file-read permission.

import { jsonContentType } from "./http/response.ts";
import type { HttpResponse } from "./http/response.ts";
import { openapiJson } from "./openapi_document.ts";

const openapiResponse: HttpResponse = { status: 200, headers: Object.freeze({ "content-type": jsonContentType }), body: openapiJson };

/** Answered synchronously (see RouteHandler): the document is a constant. */
export function getOpenapi(): HttpResponse {
  return openapiResponse;
}
