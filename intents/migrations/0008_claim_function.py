"""The executor's claim as one PostgreSQL function (issue 19): one round trip per claim.

`intents_claim` does what `intents.services.work_claim` does on its common path: lock the
executor row, count its held work after the lock, pick the best queued intent it may take
(`intents.dispatch.claimable` and affinity) with SKIP LOCKED, claim it and append the
`assigned` event. The rare paths (an executor coming online, its own failed intents, the
reasons for an empty answer) stay in Python. Settings are arguments, never baked in.
SQLite (the embedded default) has no such function and keeps the ORM path.
"""

from django.db import migrations

# The routing of `intents.dispatch.claimable` (and `serves`): environment with spillover,
# capabilities, separation of duties, backoff. `i` is the intent, `x` the locked executor.
ROUTES = """
    i.status = 'queued'
    AND (i.not_before IS NULL OR i.not_before <= p_now)
    AND (i.environment_preference = x.environment
         OR (i.environment_preference = 'either'
             AND (COALESCE(p_routing ->> i.current_phase, x.environment) = x.environment
                  OR i.queued_at <= v_spill_before)))
    AND i.required_capabilities <@ x.capabilities
    AND (i.built_by_id IS DISTINCT FROM p_executor_id
         OR NOT (i.current_phase = ANY (p_separate_phases)))
"""
NOT_AVOIDED = ROUTES + "    AND i.avoid_executor_id IS DISTINCT FROM p_executor_id\n"

CREATE = f"""
CREATE OR REPLACE FUNCTION intents_claim(
    p_executor_id text,
    p_actor text,
    p_now timestamptz,
    p_lease_seconds double precision,
    p_routing jsonb,
    p_spillover_seconds double precision,
    p_separate_phases text[],
    p_affinity_seconds double precision
) RETURNS TABLE (
    r_outcome text,
    r_holding integer,
    r_max_concurrent integer,
    r_environment text,
    r_avoided boolean,
    r_event_id bigint,
    r_first_claim boolean,
    r_waited double precision,
    r_event_at timestamptz,
    r_intent intents_intent
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    x executors_executor;
    v_spill_before timestamptz := p_now - make_interval(secs => p_spillover_seconds);
    v_mine timestamptz;
    v_head timestamptz;
    v_before intents_intent;
    v_spilled boolean;
BEGIN
    -- Serializes this executor's own claims: max_concurrent holds against parallel calls.
    SELECT e.* INTO x FROM executors_executor AS e
        WHERE e.executor_id = p_executor_id FOR UPDATE;
    IF NOT FOUND THEN
        r_outcome := 'unknown';
        RETURN NEXT;
        RETURN;
    END IF;
    r_max_concurrent := x.max_concurrent;
    r_environment := x.environment;
    IF NOT x.online THEN
        -- Coming online is recorded by the Python path (the executors app writes its row).
        r_outcome := 'offline';
        RETURN NEXT;
        RETURN;
    END IF;
    -- A statement of its own, so a snapshot taken after the lock: it sees the claims
    -- committed while this call waited for the lock.
    SELECT count(*) INTO r_holding FROM intents_intent AS i
        WHERE i.assigned_to_id = p_executor_id
        AND i.status IN ('assigned', 'in_progress', 'testing');
    IF r_holding >= x.max_concurrent THEN
        r_outcome := 'full';
        RETURN NEXT;
        RETURN;
    END IF;
    -- Affinity: an intent whose previous phase this executor did goes first when it ranks
    -- within p_affinity_seconds of the head.
    SELECT i.rank INTO v_mine FROM intents_intent AS i
        WHERE i.previous_executor_id = p_executor_id AND {NOT_AVOIDED}
        ORDER BY i.rank LIMIT 1;
    IF v_mine IS NOT NULL THEN
        SELECT i.rank INTO v_head FROM intents_intent AS i
            WHERE {NOT_AVOIDED}
            ORDER BY i.rank LIMIT 1;
        IF v_mine <= v_head + make_interval(secs => p_affinity_seconds) THEN
            SELECT i.* INTO v_before FROM intents_intent AS i
                WHERE i.previous_executor_id = p_executor_id
                AND i.rank <= v_head + make_interval(secs => p_affinity_seconds)
                AND {NOT_AVOIDED}
                ORDER BY i.rank LIMIT 1 FOR UPDATE SKIP LOCKED;
        END IF;
    END IF;
    IF v_before.id IS NULL THEN
        SELECT i.* INTO v_before FROM intents_intent AS i
            WHERE {NOT_AVOIDED}
            ORDER BY i.rank LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;
    IF v_before.id IS NULL THEN
        -- Its own failed intents are Python's to weigh (other executors' Redis liveness).
        r_outcome := 'none';
        r_avoided := EXISTS (
            SELECT 1 FROM intents_intent AS i
            WHERE i.avoid_executor_id = p_executor_id AND {ROUTES}
        );
        RETURN NEXT;
        RETURN;
    END IF;
    v_spilled := v_before.environment_preference = 'either'
        AND (p_routing ->> v_before.current_phase) IS NOT NULL
        AND (p_routing ->> v_before.current_phase) <> x.environment;
    UPDATE intents_intent AS i SET
        status = 'assigned',
        assigned_to_id = p_executor_id,
        assigned_at = p_now,
        lease_expires_at = p_now + make_interval(secs => p_lease_seconds),
        last_progress_at = p_now,
        stalled_at = NULL,
        spilled = v_spilled,
        updated_at = p_now
        WHERE i.id = v_before.id AND i.status = 'queued'
        RETURNING i.* INTO r_intent;
    r_first_claim := v_before.assigned_at IS NULL;
    -- Queue wait: from entering this phase's queue (or its re-queue) to this claim.
    r_waited := greatest(extract(epoch FROM p_now - v_before.queued_at)::double precision, 0);
    -- The event's time is when it is written, after the locks (as record_event's is): a
    -- claim that waited must not sort before the re-queue that freed its intent.
    r_event_at := clock_timestamp();
    INSERT INTO intents_intentevent (
        intent_id, executor_id, actor, kind, from_status, to_status, from_phase, to_phase,
        payload, duration_seconds, created_at
    ) VALUES (
        r_intent.id, p_executor_id, p_actor, 'assigned', v_before.status, r_intent.status,
        r_intent.current_phase, r_intent.current_phase,
        jsonb_build_object(
            'attempt', r_intent.attempts + 1,
            'environment', x.environment,
            'spilled', v_spilled
        ),
        r_waited, r_event_at
    ) RETURNING id INTO r_event_id;
    r_outcome := 'assigned';
    RETURN NEXT;
END;
$$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS intents_claim("
    "text, text, timestamptz, double precision, jsonb, double precision, text[], "
    "double precision);"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("intents", "0007_review_queue_names"),
        ("executors", "0002_executor_online"),
    ]

    operations = [migrations.RunPython(create, drop)]
