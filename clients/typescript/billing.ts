// A sample of a frontend using the client types generated from /api/billing/schema/:
//   npx openapi-typescript http://127.0.0.1:8000/api/billing/schema/ -o billing-api.d.ts
// CI (.ci/run, scripts/typescript_client.sh) generates billing-api.d.ts from the schema
// and type-checks this file with `tsc --noEmit`: a field renamed or retyped breaks it.
import type { components, paths } from "./billing-api";

type BillingState = components["schemas"]["BillingState"];
type Subscription = components["schemas"]["Subscription"];
type SubscriptionStatus = components["schemas"]["SubscriptionStatus"];
type ApiError = components["schemas"]["Error"];
type CancelAnswer =
  paths["/api/billing/subscriptions/{id}/cancel/"]["post"]["responses"][200]["content"]["application/json"];

/** Django's CSRF token, sent back on every POST of a session-authenticated SPA. */
function csrfToken(): string {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
  return match?.[1] ? decodeURIComponent(match[1]) : "";
}

async function failure(response: Response): Promise<Error> {
  const body = (await response.json()) as ApiError;
  const fields = Object.entries(body.fields ?? {}).map(([name, messages]) => `${name}: ${messages.join(" ")}`);
  return new Error([body.detail, ...fields].join("\n"));
}

export async function billingState(): Promise<BillingState> {
  const response = await fetch("/api/billing/state/", { credentials: "same-origin" });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as BillingState;
}

/** The subscription a billing screen shows: the "default" one granting access now. */
export function currentPlan(state: BillingState): Subscription | undefined {
  return state.subscriptions.find((sub) => sub.type === "default" && sub.is_valid);
}

export async function cancelAtPeriodEnd(subscription: Subscription): Promise<Subscription> {
  const response = await fetch(`/api/billing/subscriptions/${subscription.id}/cancel/`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken() },
  });
  if (response.status === 409) throw new Error("Already canceled, or not running.");
  if (!response.ok) throw await failure(response);
  const canceled = (await response.json()) as CancelAnswer;
  // Typed as the schema says: booleans, a nullable date, an enum of statuses.
  const access: boolean = canceled.on_grace_period;
  const until: string | null = canceled.ends_at;
  const status: SubscriptionStatus = canceled.status; // an enum, not any string
  if (status === "past_due") console.warn("The last payment failed.");
  console.log(`Canceled: access ${access ? `until ${until}` : "ended"} (${status})`);
  return canceled;
}

export async function cancelCurrentPlan(): Promise<Subscription | undefined> {
  const plan = currentPlan(await billingState());
  return plan && cancelAtPeriodEnd(plan);
}
