"""Dead letters of the telemetry pipeline: the outage budget of the dead-letter policy, and their replay.

    python -m infra.ops.dead_letters budget
    python -m infra.ops.dead_letters replay [--limit N] [--subscription NAME] [--topic NAME]

``telemetry-indexer`` redelivers a message the pipeline refused with a growing delay between the policy's
minimum and maximum, and after ``max_delivery_attempts`` moves it to ``telemetry-dead-letter``, where the pull
subscription ``telemetry-dead-letter-hold`` keeps it (``infra/pubsub_topology.json``). ``budget`` prints how long
Elasticsearch may refuse writes before that happens. ``replay`` republishes held dead letters unchanged (data and
attributes) to ``telemetry`` and acknowledges each only once Pub/Sub confirmed its republication, so a failure
leaves it held; the pipeline's deterministic document ids make a replayed reading that was already stored
overwrite itself instead of duplicating.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from tqdm import tqdm

from infra.config import PubSubTopology, Settings
from infra.adapters.pubsub import PubSubPublisher

# Pub/Sub documents an exponential backoff between the policy's two delays but not its formula. Google's own
# Pub/Sub emulator (0.8.20, MessageBacklog.computeBackoff) models it: the minimum grows 1.3x per earlier attempt
# up to the maximum less 40 % of the minimum, is scaled by a random 60-100 % and gets 40 % of the minimum added,
# all kept within [minimum, maximum].
GROWTH = 1.3
JITTER = (0.6, 1.0)  # the shortest and the longest draw
PULL_BATCH = 100
PULL_WAIT = 5.0  # seconds an empty pull waits before the backlog is taken as drained


def seconds(duration: str) -> float:
    """Seconds of a topology duration such as ``"600s"``."""
    if not duration.endswith("s"):
        raise ValueError(f"durations are written in seconds, like '10s', got {duration!r}")
    return float(duration[:-1])


def retry_delay(topology: PubSubTopology, refused: int, jitter: float) -> float:
    """Seconds before the next delivery of a message already refused ``refused`` times (1 or more)."""
    low, high = seconds(topology.min_retry_delay), seconds(topology.max_retry_delay)
    base, delay = 0.4 * low, low
    for _ in range(refused - 1):
        if delay >= high - base:
            break
        delay *= GROWTH
    return min(max(min(delay, high - base) * jitter + base, low), high)


def outage_budget(topology: PubSubTopology, jitter: float = JITTER[0]) -> float:
    """Seconds from a message's first refused delivery to its dead-lettering when every delivery is refused.

    With the shortest draws (the default) a lower bound: the time each refused push itself takes, and Pub/Sub's
    slowing of pushes to an endpoint that keeps failing, only lengthen it.
    """
    return sum(retry_delay(topology, refused, jitter) for refused in range(1, topology.max_delivery_attempts))


@dataclass
class ReplaySummary:
    """What a replay did: messages republished (and acknowledged) and messages left held after a failure."""

    replayed: int = 0
    failed: int = 0


def replay(subscriber: pubsub_v1.SubscriberClient, publisher: PubSubPublisher, subscription: str, *,
           limit: int | None = None, progress: tqdm | None = None, wait: float = PULL_WAIT) -> ReplaySummary:
    """Republish held dead letters to the publisher's topic until none is left (or ``limit`` were replayed).

    A message is acknowledged only after Pub/Sub confirmed its republication. One that could not be republished
    is handed back at once (ack deadline 0) and the replay stops there, since the next would fail the same way.
    """
    summary = ReplaySummary()
    while limit is None or summary.replayed < limit:
        wanted = PULL_BATCH if limit is None else min(PULL_BATCH, limit - summary.replayed)
        received = _pull(subscriber, subscription, wanted, wait)
        if not received:
            break
        pending = [(held.ack_id, publisher.publish_future(held.message.data, **dict(held.message.attributes)))
                   for held in received]
        confirmed, failed = [], []
        for ack_id, future in pending:
            try:
                future.result(timeout=publisher.timeout)
                confirmed.append(ack_id)
            except Exception:  # not confirmed, for whatever reason: the message must stay held
                failed.append(ack_id)
        if confirmed:
            subscriber.acknowledge(subscription=subscription, ack_ids=confirmed)
            summary.replayed += len(confirmed)
            if progress is not None:
                progress.update(len(confirmed))
        if failed:
            subscriber.modify_ack_deadline(subscription=subscription, ack_ids=failed, ack_deadline_seconds=0)
            summary.failed += len(failed)
            break
    return summary


def _pull(subscriber: pubsub_v1.SubscriberClient, subscription: str, count: int, wait: float) -> list:
    try:
        return list(subscriber.pull(subscription=subscription, max_messages=count, timeout=wait).received_messages)
    except gexc.DeadlineExceeded:  # nothing arrived within the wait
        return []


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    topology = settings.topology
    parser = argparse.ArgumentParser(prog="python -m infra.ops.dead_letters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("budget", help="print how long Elasticsearch may be down before messages are dead-lettered")
    replaying = commands.add_parser("replay", help="republish held dead letters to the telemetry topic")
    replaying.add_argument("--limit", type=int, help="replay at most this many messages (default: all)")
    replaying.add_argument("--subscription", default=topology.dead_letter_subscription,
                           help="pull subscription holding the dead letters (default: %(default)s)")
    replaying.add_argument("--topic", default=topology.topic, help="topic to republish to (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.command == "budget":
        shortest, longest = (outage_budget(topology, jitter) for jitter in JITTER)
        print(f"{topology.max_delivery_attempts} delivery attempts, {topology.min_retry_delay} to "
              f"{topology.max_retry_delay} apart: a message is dead-lettered after {shortest / 3600:.1f} to "
              f"{longest / 3600:.1f} h of refused pushes ({shortest:.0f} to {longest:.0f} s)")
        return 0

    subscriber = pubsub_v1.SubscriberClient()
    publisher = PubSubPublisher(settings.project_id, args.topic, timeout=settings.publish_timeout)
    source = subscriber.subscription_path(settings.project_id, args.subscription)
    try:
        with tqdm(total=args.limit, unit="msg", desc="replaying") as progress:
            summary = replay(subscriber, publisher, source, limit=args.limit, progress=progress)
    finally:
        publisher.stop()
        subscriber.close()
    print(f"replayed {summary.replayed} dead letter(s) from {source} to {publisher.topic_path}"
          + (f"; {summary.failed} could not be republished and stay held" if summary.failed else ""))
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
