-- Plans are data: every limit, the tool list, the cache TTL and the quota policy.
-- `limits` is validated by core/plans.ts (PlanLimits) on every write and read.
CREATE TABLE plans (
  id                text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{1,31}$'),
  name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
  rank              integer NOT NULL CHECK (rank >= 0),
  limits            jsonb NOT NULL CHECK (jsonb_typeof(limits) = 'object'),
  allowed_tools     text[],
  cache_ttl_seconds integer NOT NULL CHECK (cache_ttl_seconds BETWEEN 0 AND 86400),
  quota_policy      text NOT NULL CHECK (quota_policy IN ('block', 'soft', 'overage')),
  version           integer NOT NULL DEFAULT 1,
  updated_at        timestamptz NOT NULL DEFAULT now()
);

INSERT INTO plans (id, name, rank, limits, allowed_tools, cache_ttl_seconds, quota_policy) VALUES
('free', 'Free', 0, '{
  "perKey": {"perMinute": 5},
  "perUser": {"perMinute": 5, "perDay": 100, "perMonth": 2000, "concurrent": 2},
  "perOrg": {"perMinute": 20, "perDay": 400, "perMonth": 8000, "concurrent": 4},
  "perIp": {"perMinute": 120},
  "burst": {"max": 5, "windowMs": 1000},
  "globalPool": {"perSecond": 500},
  "expensive": {"perMinute": 1, "perDay": 10, "concurrent": 1},
  "otherMethodsPerMinute": 120
}', NULL, 600, 'block'),
('pro', 'Pro', 1, '{
  "perKey": {"perMinute": 20},
  "perUser": {"perMinute": 20, "perDay": 5000, "perMonth": 100000, "concurrent": 5},
  "perOrg": {"perMinute": 100, "perDay": 25000, "perMonth": 500000, "concurrent": 20},
  "perIp": {"perMinute": 600},
  "burst": {"max": 10, "windowMs": 1000},
  "globalPool": {"perSecond": 2000},
  "expensive": {"perMinute": 5, "perDay": 500, "concurrent": 2},
  "otherMethodsPerMinute": 600
}', NULL, 120, 'soft'),
('ultra', 'Ultra', 2, '{
  "perKey": {"perMinute": 50},
  "perUser": {"perMinute": 50, "perDay": 50000, "perMonth": 1000000, "concurrent": 10},
  "perOrg": {"perMinute": 500, "perDay": 250000, "perMonth": 5000000, "concurrent": 50},
  "perIp": {"perMinute": 3000},
  "burst": {"max": 25, "windowMs": 1000},
  "globalPool": {"perSecond": 5000},
  "expensive": {"perMinute": 20, "perDay": 5000, "concurrent": 5},
  "otherMethodsPerMinute": 3000
}', NULL, 15, 'overage');
