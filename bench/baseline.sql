-- Baseline A of bench/plan.py: the set-based core of rules/ written by hand, as a careful
-- person would write it for SQLite, without the engine. Same store, opened read-only; temp
-- tables only. Parameters (bound by bench/plan.py):
--   :now     the as-of instant in epoch seconds (2026-11-20T10:00:00+08:00 = 1795140000)
--   :offset  the calendar timezone's UTC offset in seconds (Asia/Shanghai: 28800, no DST)
--   :today   the as-of date in the calendar timezone ('2026-11-20'), for offer windows
--
-- What it computes, and what bench/plan.py compares with the engine:
--   b_values     every metric of rules/metrics.yaml and every segment of rules/segments.yaml
--   b_channels   per customer and address channel, the first reason it cannot be used
--                (no_address, consent, entry, channel_exit, channel_lifecycle) or NULL
--   b_candidates per customer in any audience: per offer in play, in its audience
--                (audience true, exclude not true), its rank, in its cooldown
--   b_choice     per customer and offer group, the offer that wins the group before the
--                sequential steps: highest priority (then id) among the offers whose
--                audience the customer is in and whose cooldown they are not in
-- Times in the store are ISO-8601 text in several spellings (orders mix `Z`, `+08:00` and
-- `YYYY-MM-DD hh:mm:ss`), so every time goes through unixepoch(). Statements are separated by
-- semicolons at the end of a line; comments are whole lines.

-- 1. Orders: one pass, every aggregate of metrics.yaml over orders as a filtered aggregate.
-- last(category, ordered_at): the winning row's id is packed under its time (ties: the
-- highest id, as the contract's `last` does); ids stay below 2^27 on any store this
-- benchmark builds (10M orders at 1M customers).
CREATE TEMP TABLE b_orders (
    customer_id INTEGER PRIMARY KEY, last_order_at, first_order_at, orders_total,
    orders_365d, monetary_365d, monetary_total, avg_order_value, coupon_orders_365d,
    refunds_180d, mother_baby_last_at, categories_365d, live_orders_365d, last_order_key);

INSERT INTO b_orders
SELECT customer_id,
    max(unixepoch(ordered_at)) FILTER (WHERE status = 'completed'),
    min(unixepoch(ordered_at)) FILTER (WHERE status = 'completed'),
    count(*) FILTER (WHERE status = 'completed'),
    count(*) FILTER (WHERE status = 'completed'
                       AND unixepoch(ordered_at) >= :now - 365 * 86400),
    sum(amount) FILTER (WHERE status = 'completed'
                          AND unixepoch(ordered_at) >= :now - 365 * 86400),
    sum(amount) FILTER (WHERE status = 'completed'),
    avg(amount) FILTER (WHERE status = 'completed'),
    count(*) FILTER (WHERE status = 'completed' AND coupon_code IS NOT NULL
                       AND unixepoch(ordered_at) >= :now - 365 * 86400),
    count(*) FILTER (WHERE status = 'refunded'
                       AND unixepoch(ordered_at) >= :now - 180 * 86400),
    max(unixepoch(ordered_at)) FILTER (WHERE status = 'completed'
                                         AND category = 'mother_baby'),
    count(DISTINCT category) FILTER (WHERE status = 'completed'
                                       AND unixepoch(ordered_at) >= :now - 365 * 86400),
    count(*) FILTER (WHERE status = 'completed' AND channel = 'douyin_live'
                       AND unixepoch(ordered_at) >= :now - 365 * 86400),
    max(unixepoch(ordered_at) * 134217728 + id) FILTER (WHERE status = 'completed')
FROM orders
GROUP BY customer_id;

-- mode(category): the most frequent category of completed orders, ties to the smallest.
CREATE TEMP TABLE b_favourite (customer_id INTEGER PRIMARY KEY, category);

INSERT INTO b_favourite
SELECT customer_id, category FROM (
    SELECT customer_id, category,
        row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, category) AS r
    FROM orders
    WHERE status = 'completed' AND category IS NOT NULL
    GROUP BY customer_id, category)
WHERE r = 1;

-- 2. Events: one pass.
CREATE TEMP TABLE b_events (
    customer_id INTEGER PRIMARY KEY, last_view_at, views_3d, carts_7d, last_cart_at,
    live_views_30d, service_complaints_180d, low_reviews_180d, avg_rating_365d);

INSERT INTO b_events
SELECT customer_id,
    max(unixepoch(at)) FILTER (WHERE type = 'view'),
    count(*) FILTER (WHERE type = 'view' AND unixepoch(at) >= :now - 3 * 86400),
    count(*) FILTER (WHERE type = 'add_to_cart' AND unixepoch(at) >= :now - 7 * 86400),
    max(unixepoch(at)) FILTER (WHERE type = 'add_to_cart'),
    count(*) FILTER (WHERE type = 'live_view' AND unixepoch(at) >= :now - 30 * 86400),
    count(*) FILTER (WHERE type = 'complaint' AND unixepoch(at) >= :now - 180 * 86400),
    count(*) FILTER (WHERE type = 'review' AND value <= 2
                       AND unixepoch(at) >= :now - 180 * 86400),
    avg(value) FILTER (WHERE type = 'review' AND unixepoch(at) >= :now - 365 * 86400)
FROM events
GROUP BY customer_id;

-- 3. Contacts: one pass; the messaging metrics, and for every offer with a cooldown the
-- latest contact of that offer sent up to as-of (the cooldown test is done per offer below).
CREATE TEMP TABLE b_contacts (
    customer_id INTEGER PRIMARY KEY,
    email_bounces_90d, sms_bounces_90d, push_bounces_90d, wechat_bounces_90d,
    email_unsubscribes, sms_unsubscribes, push_unsubscribes, wechat_unsubscribes,
    email_complaints_90d, sms_complaints_90d, push_complaints_90d, wechat_complaints_90d,
    contacts_30d, clicks_90d,
    last_cart_recovery, last_second_order_nudge, last_browse_abandon, last_vip_reactivation,
    last_repurchase_7d, last_repurchase_30d, last_birthday_gift_vip, last_birthday_gift,
    last_d11_encore_coupon, last_year_end_member_gift, last_winback_dissatisfied,
    last_vip_winback, last_winback_price_sensitive, last_winback_price_sensitive_low,
    last_winback_needs_changed, last_winback_long_lapsed);

INSERT INTO b_contacts
SELECT customer_id,
    count(*) FILTER (WHERE channel = 'email' AND status = 'bounced' AND ts >= :now - 90 * 86400),
    count(*) FILTER (WHERE channel = 'sms' AND status = 'bounced' AND ts >= :now - 90 * 86400),
    count(*) FILTER (WHERE channel = 'app_push' AND status = 'bounced' AND ts >= :now - 90 * 86400),
    count(*) FILTER (WHERE channel = 'wechat' AND status = 'bounced' AND ts >= :now - 90 * 86400),
    count(*) FILTER (WHERE channel = 'email' AND status = 'unsubscribed'),
    count(*) FILTER (WHERE channel = 'sms' AND status = 'unsubscribed'),
    count(*) FILTER (WHERE channel = 'app_push' AND status = 'unsubscribed'),
    count(*) FILTER (WHERE channel = 'wechat' AND status = 'unsubscribed'),
    count(*) FILTER (WHERE channel = 'email' AND status = 'complained' AND ts >= :now - 90 * 86400),
    count(*) FILTER (WHERE channel = 'sms' AND status = 'complained' AND ts >= :now - 90 * 86400),
    count(*) FILTER (WHERE channel = 'app_push' AND status = 'complained' AND ts >= :now - 90 * 86400),
    count(*) FILTER (WHERE channel = 'wechat' AND status = 'complained' AND ts >= :now - 90 * 86400),
    count(*) FILTER (WHERE ts >= :now - 30 * 86400),
    count(*) FILTER (WHERE status IN ('clicked', 'converted') AND ts >= :now - 90 * 86400),
    max(ts) FILTER (WHERE offer_id = 'cart_recovery' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'second_order_nudge' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'browse_abandon' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'vip_reactivation' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'repurchase_7d' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'repurchase_30d' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'birthday_gift_vip' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'birthday_gift' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'd11_encore_coupon' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'year_end_member_gift' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'winback_dissatisfied' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'vip_winback' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'winback_price_sensitive' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'winback_price_sensitive_low' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'winback_needs_changed' AND ts <= :now),
    max(ts) FILTER (WHERE offer_id = 'winback_long_lapsed' AND ts <= :now)
FROM (SELECT customer_id, channel, status, offer_id, unixepoch(sent_at) AS ts FROM contacts)
GROUP BY customer_id;

-- Earlier runs' actions of each offer (planned or sent): the other half of the cooldown.
CREATE TEMP TABLE b_actions (customer_id INTEGER, offer_id TEXT, last_at INTEGER,
    PRIMARY KEY (customer_id, offer_id));

INSERT INTO b_actions
SELECT customer_id, offer_id, max(unixepoch(send_at)) FROM actions GROUP BY 1, 2;

-- 4. Metrics (with their defaults and the derived ones) and segments, per customer.
CREATE TEMP TABLE b_metrics (
    customer_id INTEGER PRIMARY KEY, last_order_at, first_order_at, recency_days,
    orders_total, orders_365d, monetary_365d, monetary_total, avg_order_value, r_score,
    f_score, m_score, coupon_orders_365d, coupon_order_share, refunds_180d,
    mother_baby_last_at, last_order_category, favourite_category, categories_365d,
    live_orders_365d, last_view_at, days_since_last_view, views_3d, carts_7d, last_cart_at,
    live_views_30d, service_complaints_180d, low_reviews_180d, avg_rating_365d,
    email_bounces_90d, sms_bounces_90d, push_bounces_90d, wechat_bounces_90d,
    email_unsubscribes, sms_unsubscribes, push_unsubscribes, wechat_unsubscribes,
    email_complaints_90d, sms_complaints_90d, push_complaints_90d, wechat_complaints_90d,
    contacts_30d, clicks_90d, days_to_birthday, rfm_total);

INSERT INTO b_metrics
SELECT m.*,
    r_score + f_score + m_score
FROM (
    SELECT customer_id, last_order_at, first_order_at, recency_days, orders_total,
        orders_365d, monetary_365d, monetary_total, avg_order_value,
        CASE WHEN recency_days IS NULL THEN 0 WHEN recency_days <= 30 THEN 5
             WHEN recency_days <= 60 THEN 4 WHEN recency_days <= 90 THEN 3
             WHEN recency_days <= 180 THEN 2 ELSE 1 END AS r_score,
        CASE WHEN orders_365d >= 12 THEN 5 WHEN orders_365d >= 6 THEN 4
             WHEN orders_365d >= 3 THEN 3 WHEN orders_365d >= 2 THEN 2 ELSE 1 END AS f_score,
        CASE WHEN monetary_365d >= 8000 THEN 5 WHEN monetary_365d >= 4000 THEN 4
             WHEN monetary_365d >= 1500 THEN 3 WHEN monetary_365d >= 400 THEN 2
             ELSE 1 END AS m_score,
        coupon_orders_365d,
        CAST(coupon_orders_365d AS REAL) / NULLIF(orders_365d, 0) AS coupon_order_share,
        refunds_180d, mother_baby_last_at, last_order_category, favourite_category,
        categories_365d, live_orders_365d, last_view_at,
        CAST(floor((:now - last_view_at) / 86400.0) AS INTEGER) AS days_since_last_view,
        views_3d, carts_7d, last_cart_at, live_views_30d, service_complaints_180d,
        low_reviews_180d, avg_rating_365d, email_bounces_90d, sms_bounces_90d,
        push_bounces_90d, wechat_bounces_90d, email_unsubscribes, sms_unsubscribes,
        push_unsubscribes, wechat_unsubscribes, email_complaints_90d, sms_complaints_90d,
        push_complaints_90d, wechat_complaints_90d, contacts_30d, clicks_90d,
        -- round((146097 - days_since(birth_date) * 400 % 146097) / 400) % 365, the birth
        -- date at midnight in the calendar timezone; round() half away from zero
        CAST((146097 - birth_days * 400 % 146097) / 400.0 + 0.5 AS INTEGER) % 365
            AS days_to_birthday
    FROM (
        SELECT c.id AS customer_id,
            o.last_order_at, o.first_order_at,
            CAST(floor((:now - o.last_order_at) / 86400.0) AS INTEGER) AS recency_days,
            coalesce(o.orders_total, 0) AS orders_total,
            coalesce(o.orders_365d, 0) AS orders_365d,
            CASE WHEN coalesce(o.orders_365d, 0) = 0 THEN 0 ELSE o.monetary_365d END
                AS monetary_365d,
            CASE WHEN coalesce(o.orders_total, 0) = 0 THEN 0 ELSE o.monetary_total END
                AS monetary_total,
            o.avg_order_value,
            coalesce(o.coupon_orders_365d, 0) AS coupon_orders_365d,
            coalesce(o.refunds_180d, 0) AS refunds_180d,
            o.mother_baby_last_at,
            last.category AS last_order_category,
            fav.category AS favourite_category,
            coalesce(o.categories_365d, 0) AS categories_365d,
            coalesce(o.live_orders_365d, 0) AS live_orders_365d,
            e.last_view_at,
            coalesce(e.views_3d, 0) AS views_3d,
            coalesce(e.carts_7d, 0) AS carts_7d,
            e.last_cart_at,
            coalesce(e.live_views_30d, 0) AS live_views_30d,
            coalesce(e.service_complaints_180d, 0) AS service_complaints_180d,
            coalesce(e.low_reviews_180d, 0) AS low_reviews_180d,
            e.avg_rating_365d,
            coalesce(k.email_bounces_90d, 0) AS email_bounces_90d,
            coalesce(k.sms_bounces_90d, 0) AS sms_bounces_90d,
            coalesce(k.push_bounces_90d, 0) AS push_bounces_90d,
            coalesce(k.wechat_bounces_90d, 0) AS wechat_bounces_90d,
            coalesce(k.email_unsubscribes, 0) AS email_unsubscribes,
            coalesce(k.sms_unsubscribes, 0) AS sms_unsubscribes,
            coalesce(k.push_unsubscribes, 0) AS push_unsubscribes,
            coalesce(k.wechat_unsubscribes, 0) AS wechat_unsubscribes,
            coalesce(k.email_complaints_90d, 0) AS email_complaints_90d,
            coalesce(k.sms_complaints_90d, 0) AS sms_complaints_90d,
            coalesce(k.push_complaints_90d, 0) AS push_complaints_90d,
            coalesce(k.wechat_complaints_90d, 0) AS wechat_complaints_90d,
            coalesce(k.contacts_30d, 0) AS contacts_30d,
            coalesce(k.clicks_90d, 0) AS clicks_90d,
            (:now - (unixepoch(c.birth_date) - :offset)) / 86400 AS birth_days
        FROM customers AS c
        LEFT JOIN b_orders AS o ON o.customer_id = c.id
        LEFT JOIN orders AS last ON last.id = o.last_order_key % 134217728
        LEFT JOIN b_favourite AS fav ON fav.customer_id = c.id
        LEFT JOIN b_events AS e ON e.customer_id = c.id
        LEFT JOIN b_contacts AS k ON k.customer_id = c.id)) AS m;

-- ntile(5, monetary_365d): the population rank (monetary_365d is never missing: default 0).
CREATE TEMP TABLE b_quintile (customer_id INTEGER PRIMARY KEY, m_quintile);

INSERT INTO b_quintile
SELECT customer_id, ntile(5) OVER (ORDER BY monetary_365d, customer_id) FROM b_metrics;

-- Segments: 1 where the condition is true, else 0 (a missing value is not membership). Each
-- level reads the segments of the levels before it.
CREATE TEMP TABLE b_segments (
    customer_id INTEGER PRIMARY KEY, high_value, mid_value, low_value, prospect,
    rfm_champions, rfm_loyal, rfm_at_risk, rfm_hibernating, tier_diamond, tier_gold,
    tier_silver, tier_regular, vip_member, churn_short, churn_mid, churn_long, lapsed,
    repeat_customer, reason_dissatisfied, reason_price_sensitive, reason_needs_changed,
    browsed_not_carted, carted_not_paid, silent_after_first_order, lapsed_high_value,
    vip_lapsed, golden_7d, golden_30d, birthday_week, contactable, no_consent);

INSERT INTO b_segments
SELECT customer_id, high_value, mid_value,
    (NOT high_value AND NOT mid_value AND orders_total >= 1) IS TRUE AS low_value,
    prospect, rfm_champions, rfm_loyal, rfm_at_risk, rfm_hibernating, tier_diamond,
    tier_gold, tier_silver, tier_regular, vip_member, churn_short, churn_mid, churn_long,
    lapsed, repeat_customer, reason_dissatisfied, reason_price_sensitive,
    reason_needs_changed, browsed_not_carted, carted_not_paid, silent_after_first_order,
    lapsed_high_value, vip_lapsed, golden_7d, golden_30d, birthday_week, contactable,
    no_consent
FROM (
    SELECT s.*,
        (NOT high_value AND (m_score >= 2 OR tier = 'silver')) IS TRUE AS mid_value,
        (f_score >= 4 AND NOT rfm_champions) IS TRUE AS rfm_loyal,
        (NOT reason_dissatisfied AND NOT reason_price_sensitive
            AND floor((:now - mother_baby_last_at) / 86400.0) > 180) IS TRUE
            AS reason_needs_changed,
        (churn_long AND (high_value OR monetary_total >= 10000)) IS TRUE
            AS lapsed_high_value,
        (high_value AND (churn_short OR churn_mid)) IS TRUE AS vip_lapsed,
        NOT contactable AS no_consent
    FROM (
        SELECT v.*,
            (m_score >= 4 OR tier IN ('gold', 'diamond')) IS TRUE AS high_value,
            (r_score >= 4 AND f_score >= 4 AND m_score >= 4) IS TRUE AS rfm_champions,
            (churn_short OR churn_mid OR churn_long) AS lapsed,
            (NOT reason_dissatisfied AND coupon_order_share >= 0.5 AND orders_365d >= 2)
                IS TRUE AS reason_price_sensitive,
            (tier_gold OR tier_diamond) AS vip_member
        FROM (
            SELECT m.*, coalesce(c.member_tier, 'regular') AS tier,
                (orders_total = 0) IS TRUE AS prospect,
                (r_score <= 2 AND f_score >= 3 AND m_score >= 3) IS TRUE AS rfm_at_risk,
                (r_score = 1 AND f_score <= 2) IS TRUE AS rfm_hibernating,
                (c.member_tier = 'diamond') IS TRUE AS tier_diamond,
                (c.member_tier = 'gold') IS TRUE AS tier_gold,
                (c.member_tier = 'silver') IS TRUE AS tier_silver,
                (coalesce(c.member_tier, 'regular') = 'regular') IS TRUE AS tier_regular,
                (14 < recency_days AND recency_days <= 30) IS TRUE AS churn_short,
                (30 < recency_days AND recency_days <= 90) IS TRUE AS churn_mid,
                (recency_days > 90) IS TRUE AS churn_long,
                (orders_total >= 2) IS TRUE AS repeat_customer,
                (service_complaints_180d >= 1 OR low_reviews_180d >= 1 OR refunds_180d >= 2)
                    IS TRUE AS reason_dissatisfied,
                (views_3d >= 1 AND carts_7d = 0
                    AND (last_order_at IS NULL OR last_order_at < last_view_at)) IS TRUE
                    AS browsed_not_carted,
                (floor((:now - last_cart_at) / 3600.0) BETWEEN 1 AND 72
                    AND (last_order_at IS NULL OR last_order_at < last_cart_at)) IS TRUE
                    AS carted_not_paid,
                (orders_total = 1 AND recency_days BETWEEN 14 AND 60) IS TRUE
                    AS silent_after_first_order,
                (recency_days BETWEEN 7 AND 9) IS TRUE AS golden_7d,
                (recency_days BETWEEN 30 AND 33 AND last_order_category IN ('beauty',
                    'skincare', 'mother_baby', 'food', 'snacks', 'fresh', 'pets', 'health'))
                    IS TRUE AS golden_30d,
                (days_to_birthday <= 7) IS TRUE AS birthday_week,
                ((c.email IS NOT NULL AND c.email_opt_in)
                    OR (c.phone IS NOT NULL AND c.sms_opt_in)
                    OR (c.push_token IS NOT NULL AND c.push_opt_in)
                    OR (c.wechat_openid IS NOT NULL AND c.wechat_opt_in)) IS TRUE
                    AS contactable
            FROM b_metrics AS m JOIN customers AS c ON c.id = m.customer_id) AS v) AS s);

-- 5. Channel lifecycle from channel_stats (SPEC step 5; every channel of channels.yaml has
-- the same three gates): exit after 3 latest periods in a row under half the target ROI.
CREATE TEMP TABLE b_lifecycle (channel TEXT PRIMARY KEY, state TEXT);

INSERT INTO b_lifecycle
WITH p AS (
    SELECT channel, period_start, target_roi,
        CAST(revenue AS REAL) / NULLIF(spend, 0) AS roi
    FROM channel_stats),
f AS (
    SELECT period_start, CAST(sum(revenue) AS REAL) / NULLIF(sum(spend), 0) AS portfolio_roi
    FROM channel_stats GROUP BY period_start),
r AS (
    SELECT p.*, f.portfolio_roi,
        row_number() OVER (PARTITION BY channel ORDER BY period_start DESC) AS rn
    FROM p JOIN f USING (period_start)),
below AS (
    SELECT channel,
        coalesce(min(rn) FILTER (WHERE (roi < 0.5 * target_roi) IS NOT TRUE) - 1, count(*))
            AS periods
    FROM r GROUP BY channel)
SELECT r.channel,
    CASE WHEN below.periods >= 3 THEN 'exit'
         WHEN r.roi >= 1.30 * r.portfolio_roi THEN 'scaled'
         WHEN r.roi >= 0.15 * r.portfolio_roi THEN 'admitted'
         ELSE 'testing' END
FROM r JOIN below USING (channel)
WHERE r.rn = 1;

-- 6. Channels: the first reason each address channel cannot reach the customer.
CREATE TEMP TABLE b_channels (customer_id INTEGER PRIMARY KEY, email, sms, app_push, wechat);

INSERT INTO b_channels
SELECT c.id,
    CASE WHEN c.email IS NULL THEN 'no_address'
         WHEN (c.email_opt_in AND m.email_unsubscribes = 0) IS NOT TRUE THEN 'consent'
         WHEN (m.email_bounces_90d < 2) IS NOT TRUE THEN 'entry'
         WHEN m.email_complaints_90d >= 1 OR m.email_unsubscribes >= 1
              OR EXISTS (SELECT 1 FROM channel_exits AS x WHERE x.customer_id = c.id
                         AND x.channel = 'email' AND unixepoch(x.exited_at) <= :now
                         AND (x.until IS NULL OR unixepoch(x.until) > :now))
              THEN 'channel_exit'
         WHEN (SELECT state FROM b_lifecycle WHERE channel = 'email') = 'exit'
              THEN 'channel_lifecycle' END,
    CASE WHEN c.phone IS NULL THEN 'no_address'
         WHEN (c.sms_opt_in AND m.sms_unsubscribes = 0) IS NOT TRUE THEN 'consent'
         WHEN (m.sms_bounces_90d < 2) IS NOT TRUE THEN 'entry'
         WHEN m.sms_complaints_90d >= 1 OR m.sms_unsubscribes >= 1
              OR EXISTS (SELECT 1 FROM channel_exits AS x WHERE x.customer_id = c.id
                         AND x.channel = 'sms' AND unixepoch(x.exited_at) <= :now
                         AND (x.until IS NULL OR unixepoch(x.until) > :now))
              THEN 'channel_exit'
         WHEN (SELECT state FROM b_lifecycle WHERE channel = 'sms') = 'exit'
              THEN 'channel_lifecycle' END,
    CASE WHEN c.push_token IS NULL THEN 'no_address'
         WHEN (c.push_opt_in AND m.push_unsubscribes = 0) IS NOT TRUE THEN 'consent'
         WHEN (m.push_bounces_90d = 0) IS NOT TRUE THEN 'entry'
         WHEN m.push_complaints_90d >= 1 OR m.push_unsubscribes >= 1
              OR EXISTS (SELECT 1 FROM channel_exits AS x WHERE x.customer_id = c.id
                         AND x.channel = 'app_push' AND unixepoch(x.exited_at) <= :now
                         AND (x.until IS NULL OR unixepoch(x.until) > :now))
              THEN 'channel_exit'
         WHEN (SELECT state FROM b_lifecycle WHERE channel = 'app_push') = 'exit'
              THEN 'channel_lifecycle' END,
    CASE WHEN c.wechat_openid IS NULL THEN 'no_address'
         WHEN (c.wechat_opt_in AND m.wechat_unsubscribes = 0) IS NOT TRUE THEN 'consent'
         WHEN (m.wechat_bounces_90d < 2) IS NOT TRUE THEN 'entry'
         WHEN m.wechat_complaints_90d >= 1 OR m.wechat_unsubscribes >= 1
              OR EXISTS (SELECT 1 FROM channel_exits AS x WHERE x.customer_id = c.id
                         AND x.channel = 'wechat' AND unixepoch(x.exited_at) <= :now
                         AND (x.until IS NULL OR unixepoch(x.until) > :now))
              THEN 'channel_exit'
         WHEN (SELECT state FROM b_lifecycle WHERE channel = 'wechat') = 'exit'
              THEN 'channel_lifecycle' END
FROM customers AS c JOIN b_metrics AS m ON m.customer_id = c.id;

-- 7. Audiences of the offers in play (window, calendar dates, both ends inclusive), with
-- rank and cooldown (a contact of the offer sent within the cooldown before as-of, or an
-- earlier run's action of it sent or planned after the cooldown's start). Column names:
-- in_<offer>, rank_<offer>, cool_<offer>.
CREATE TEMP TABLE b_candidates (customer_id INTEGER PRIMARY KEY, timezone,
    in_cart_recovery, rank_cart_recovery, cool_cart_recovery,
    in_second_order_nudge, rank_second_order_nudge, cool_second_order_nudge,
    in_browse_abandon, rank_browse_abandon, cool_browse_abandon,
    in_vip_reactivation, rank_vip_reactivation, cool_vip_reactivation,
    in_repurchase_7d, rank_repurchase_7d, cool_repurchase_7d,
    in_repurchase_30d, rank_repurchase_30d, cool_repurchase_30d,
    in_birthday_gift_vip, rank_birthday_gift_vip, cool_birthday_gift_vip,
    in_birthday_gift, rank_birthday_gift, cool_birthday_gift,
    in_d11_encore_coupon, rank_d11_encore_coupon, cool_d11_encore_coupon,
    in_year_end_member_gift, rank_year_end_member_gift, cool_year_end_member_gift,
    in_winback_dissatisfied, rank_winback_dissatisfied, cool_winback_dissatisfied,
    in_vip_winback, rank_vip_winback, cool_vip_winback,
    in_winback_price_sensitive, rank_winback_price_sensitive, cool_winback_price_sensitive,
    in_winback_price_sensitive_low, rank_winback_price_sensitive_low,
    cool_winback_price_sensitive_low,
    in_winback_needs_changed, rank_winback_needs_changed, cool_winback_needs_changed,
    in_winback_long_lapsed, rank_winback_long_lapsed, cool_winback_long_lapsed);

INSERT INTO b_candidates
SELECT a.customer_id, a.timezone,
    in_cart_recovery, a.monetary_365d,
    in_cart_recovery AND (coalesce(k.last_cart_recovery, 0) > :now - 3 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'cart_recovery' AND x.last_at > :now - 3 * 86400)),
    in_second_order_nudge, a.monetary_365d,
    in_second_order_nudge AND (coalesce(k.last_second_order_nudge, 0) > :now - 30 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'second_order_nudge' AND x.last_at > :now - 30 * 86400)),
    in_browse_abandon, a.clicks_90d,
    in_browse_abandon AND (coalesce(k.last_browse_abandon, 0) > :now - 7 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'browse_abandon' AND x.last_at > :now - 7 * 86400)),
    in_vip_reactivation, a.monetary_total,
    in_vip_reactivation AND (coalesce(k.last_vip_reactivation, 0) > :now - 60 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'vip_reactivation' AND x.last_at > :now - 60 * 86400)),
    in_repurchase_7d, a.monetary_365d,
    in_repurchase_7d AND (coalesce(k.last_repurchase_7d, 0) > :now - 14 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'repurchase_7d' AND x.last_at > :now - 14 * 86400)),
    in_repurchase_30d, a.monetary_365d,
    in_repurchase_30d AND (coalesce(k.last_repurchase_30d, 0) > :now - 25 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'repurchase_30d' AND x.last_at > :now - 25 * 86400)),
    in_birthday_gift_vip, NULL,
    in_birthday_gift_vip AND (coalesce(k.last_birthday_gift_vip, 0) > :now - 300 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'birthday_gift_vip' AND x.last_at > :now - 300 * 86400)),
    in_birthday_gift, NULL,
    in_birthday_gift AND (coalesce(k.last_birthday_gift, 0) > :now - 300 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'birthday_gift' AND x.last_at > :now - 300 * 86400)),
    in_d11_encore_coupon, a.coupon_order_share,
    in_d11_encore_coupon AND (coalesce(k.last_d11_encore_coupon, 0) > :now - 7 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'd11_encore_coupon' AND x.last_at > :now - 7 * 86400)),
    in_year_end_member_gift, a.monetary_365d,
    in_year_end_member_gift AND (coalesce(k.last_year_end_member_gift, 0) > :now - 60 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'year_end_member_gift' AND x.last_at > :now - 60 * 86400)),
    in_winback_dissatisfied, a.monetary_total,
    in_winback_dissatisfied AND (coalesce(k.last_winback_dissatisfied, 0) > :now - 90 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'winback_dissatisfied' AND x.last_at > :now - 90 * 86400)),
    in_vip_winback, a.monetary_365d,
    in_vip_winback AND (coalesce(k.last_vip_winback, 0) > :now - 30 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'vip_winback' AND x.last_at > :now - 30 * 86400)),
    in_winback_price_sensitive, a.monetary_365d,
    in_winback_price_sensitive AND (coalesce(k.last_winback_price_sensitive, 0) > :now - 30 * 86400
        OR EXISTS (SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'winback_price_sensitive' AND x.last_at > :now - 30 * 86400)),
    in_winback_price_sensitive_low, a.monetary_365d,
    in_winback_price_sensitive_low AND (coalesce(k.last_winback_price_sensitive_low, 0) > :now - 30 * 86400
        OR EXISTS (SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'winback_price_sensitive_low' AND x.last_at > :now - 30 * 86400)),
    in_winback_needs_changed, a.monetary_total,
    in_winback_needs_changed AND (coalesce(k.last_winback_needs_changed, 0) > :now - 60 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'winback_needs_changed' AND x.last_at > :now - 60 * 86400)),
    in_winback_long_lapsed, a.monetary_total,
    in_winback_long_lapsed AND (coalesce(k.last_winback_long_lapsed, 0) > :now - 90 * 86400 OR EXISTS (
        SELECT 1 FROM b_actions AS x WHERE x.customer_id = a.customer_id
        AND x.offer_id = 'winback_long_lapsed' AND x.last_at > :now - 90 * 86400))
FROM (
    SELECT m.customer_id, c.timezone, m.monetary_365d, m.monetary_total, m.clicks_90d,
        m.coupon_order_share,
        s.carted_not_paid AS in_cart_recovery,
        s.silent_after_first_order AS in_second_order_nudge,
        (s.browsed_not_carted AND (m.contacts_30d >= 6) IS NOT TRUE) AS in_browse_abandon,
        (s.lapsed_high_value AND NOT s.reason_dissatisfied) AS in_vip_reactivation,
        s.golden_7d AS in_repurchase_7d,
        s.golden_30d AS in_repurchase_30d,
        (s.birthday_week AND s.vip_member) AS in_birthday_gift_vip,
        (s.birthday_week AND m.orders_total >= 1) IS TRUE AS in_birthday_gift,
        (:today BETWEEN '2026-11-16' AND '2026-11-25' AND s.reason_price_sensitive
            AND m.recency_days BETWEEN 10 AND 180) IS TRUE AS in_d11_encore_coupon,
        (:today BETWEEN '2026-11-16' AND '2026-12-31' AND s.vip_member
            AND m.recency_days <= 365 AND NOT s.reason_dissatisfied) IS TRUE
            AS in_year_end_member_gift,
        (s.lapsed AND s.reason_dissatisfied AND (s.repeat_customer OR s.high_value))
            AS in_winback_dissatisfied,
        (s.vip_lapsed AND NOT s.reason_dissatisfied) AS in_vip_winback,
        (s.lapsed AND s.repeat_customer AND s.reason_price_sensitive AND s.mid_value)
            AS in_winback_price_sensitive,
        (s.lapsed AND s.repeat_customer AND s.reason_price_sensitive AND s.low_value)
            AS in_winback_price_sensitive_low,
        (s.lapsed AND s.reason_needs_changed) AS in_winback_needs_changed,
        (s.churn_long AND NOT s.lapsed_high_value AND NOT s.no_consent)
            AS in_winback_long_lapsed
    FROM b_metrics AS m
    JOIN b_segments AS s ON s.customer_id = m.customer_id
    JOIN customers AS c ON c.id = m.customer_id) AS a
LEFT JOIN b_contacts AS k ON k.customer_id = a.customer_id
WHERE in_cart_recovery OR in_second_order_nudge OR in_browse_abandon OR in_vip_reactivation
    OR in_repurchase_7d OR in_repurchase_30d OR in_birthday_gift_vip OR in_birthday_gift
    OR in_d11_encore_coupon OR in_year_end_member_gift OR in_winback_dissatisfied
    OR in_vip_winback OR in_winback_price_sensitive OR in_winback_price_sensitive_low
    OR in_winback_needs_changed OR in_winback_long_lapsed;

-- 8. Priority and group arbitration: per customer and group, the offer that gets the group's
-- slot first, before holdout and the sequential steps (caps, min_gap, capacity, budget):
-- the highest priority (ties: the smaller id) among the offers whose audience the customer
-- is in and whose cooldown they are not in.
CREATE TEMP TABLE b_choice (customer_id INTEGER PRIMARY KEY, winback, funnel, repurchase,
    care, seasonal);

INSERT INTO b_choice
SELECT customer_id,
    CASE WHEN in_winback_dissatisfied AND NOT cool_winback_dissatisfied
              THEN 'winback_dissatisfied'                                      -- 95
         WHEN in_vip_winback AND NOT cool_vip_winback THEN 'vip_winback'       -- 90
         WHEN in_vip_reactivation AND NOT cool_vip_reactivation
              THEN 'vip_reactivation'                                          -- 88
         WHEN in_winback_price_sensitive AND NOT cool_winback_price_sensitive
              THEN 'winback_price_sensitive'                                   -- 80
         WHEN in_winback_price_sensitive_low AND NOT cool_winback_price_sensitive_low
              THEN 'winback_price_sensitive_low'                               -- 78
         WHEN in_winback_needs_changed AND NOT cool_winback_needs_changed
              THEN 'winback_needs_changed'                                     -- 70
         WHEN in_winback_long_lapsed AND NOT cool_winback_long_lapsed
              THEN 'winback_long_lapsed' END,                                  -- 50
    CASE WHEN in_cart_recovery AND NOT cool_cart_recovery THEN 'cart_recovery'  -- 85
         WHEN in_second_order_nudge AND NOT cool_second_order_nudge
              THEN 'second_order_nudge'                                        -- 65
         WHEN in_browse_abandon AND NOT cool_browse_abandon
              THEN 'browse_abandon' END,                                       -- 60
    CASE WHEN in_repurchase_30d AND NOT cool_repurchase_30d THEN 'repurchase_30d'  -- 82
         WHEN in_repurchase_7d AND NOT cool_repurchase_7d THEN 'repurchase_7d' END,  -- 75
    CASE WHEN in_birthday_gift_vip AND NOT cool_birthday_gift_vip
              THEN 'birthday_gift_vip'                                         -- 45
         WHEN in_birthday_gift AND NOT cool_birthday_gift THEN 'birthday_gift' END,  -- 40
    CASE WHEN in_d11_encore_coupon AND NOT cool_d11_encore_coupon
              THEN 'd11_encore_coupon'                                         -- 35
         WHEN in_year_end_member_gift AND NOT cool_year_end_member_gift
              THEN 'year_end_member_gift' END                                  -- 30
FROM b_candidates;
