import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes, so operators can filter runs in Temporal Web by tenant, plan,
 * tool and status. The same names are registered on the dev server (`scripts/`) and must
 * be registered on production namespaces (`infra/temporal/`).
 */
export const SA = {
  orgId: defineSearchAttributeKey('TollgateOrgId', SearchAttributeType.KEYWORD),
  userId: defineSearchAttributeKey('TollgateUserId', SearchAttributeType.KEYWORD),
  plan: defineSearchAttributeKey('TollgatePlan', SearchAttributeType.KEYWORD),
  tool: defineSearchAttributeKey('TollgateTool', SearchAttributeType.KEYWORD),
  callStatus: defineSearchAttributeKey('TollgateCallStatus', SearchAttributeType.KEYWORD),
} as const;

/** `name=Type` pairs for `temporal server start-dev --search-attribute` and `operator search-attribute create`. */
export const SEARCH_ATTRIBUTE_REGISTRATIONS: readonly string[] = Object.values(SA).map((k) => `${k.name}=Keyword`);
