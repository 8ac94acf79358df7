# The active TradeConfig is seeded by a migration; tests change it with risk.services.
