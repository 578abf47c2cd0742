"""Command line: python -m localkafka fetch|start|stop|status|create-topics|run.

Only the result a script would capture (the bootstrap address) goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from aiokafka.errors import KafkaError

from localkafka.broker import LocalKafka, StartError, list_brokers
from localkafka.fetch import KAFKA_VERSION, FetchError, fetch, is_fetched
from localkafka.paths import kafka_home, libs_dir
from localkafka.topics import ensure_topics, run_sync

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _add_broker_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="dev", help="broker name; its data is in <home>/run/<name> (default: dev)")
    parser.add_argument("--port", type=int, help="PLAINTEXT port on 127.0.0.1 (default: a free port)")
    parser.add_argument("--controller-port", type=int, help="CONTROLLER port (default: a free port)")
    parser.add_argument("--fresh", action="store_true", help="delete this broker's data before starting")
    parser.add_argument("--heap", default="512m", help="JVM max heap (default: 512m)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for readiness")
    parser.add_argument(
        "--secured",
        action="store_true",
        help="SASL_SSL (SCRAM-SHA-512) only, StandardAuthorizer, no ACL = no access; CA and passwords in the run dir",
    )
    parser.add_argument(
        "--user", action="append", default=[], metavar="NAME", help="a SCRAM user to create with --secured (repeat)"
    )


def _broker(args: argparse.Namespace, *, tie_to_parent: bool = False) -> LocalKafka:
    return LocalKafka(
        args.name,
        args.port,
        controller_port=args.controller_port,
        heap=args.heap,
        fresh=args.fresh,
        start_timeout=args.timeout,
        tie_to_parent=tie_to_parent,
        secured=args.secured,
        users=args.user,
    )


def _secured_note(broker: LocalKafka) -> None:
    if broker.secured:
        _err(f"secured: CA {broker.ca_file}, SCRAM-SHA-512 passwords in {broker.credentials_file}")


def cmd_fetch(args: argparse.Namespace) -> int:
    already = is_fetched() and not args.force
    started = time.monotonic()
    libs = fetch(force=args.force, quiet=not args.verbose)
    if already:
        _err(f"Kafka {KAFKA_VERSION} jars already in {libs}")
    else:
        _err(f"fetched Kafka {KAFKA_VERSION} jars into {libs} in {time.monotonic() - started:.1f}s")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    broker = _broker(args)
    started = time.monotonic()
    bootstrap = broker.start()
    _err(f"broker {args.name!r} ready in {time.monotonic() - started:.1f}s (pid {broker.pid}, logs {broker.log_file})")
    _secured_note(broker)
    print(bootstrap, flush=True)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    broker = LocalKafka(args.name)
    if broker.stop(timeout=args.timeout):
        _err(f"broker {args.name!r} stopped")
    else:
        _err(f"broker {args.name!r} was not running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    statuses = [LocalKafka(args.name).status()] if args.name else list_brokers()
    home = kafka_home()
    _err(f"home: {home} (jars {'present' if is_fetched(home) else 'missing'} in {libs_dir(home)})")
    if not statuses:
        _err("no brokers")
    for st in statuses:
        state = f"running pid={st.pid} bootstrap={st.bootstrap}" if st.running else "stopped"
        print(f"{st.name}\t{state}\t{st.data_dir}", flush=True)
    # Exit status lets scripts ask "is it up?" for a single broker.
    return 0 if not args.name or statuses[0].running else 3


def cmd_create_topics(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap or os.environ.get(BOOTSTRAP_ENV)
    if not bootstrap:
        _err(f"give --bootstrap HOST:PORT or set {BOOTSTRAP_ENV}")
        return 2
    configs = {t: {"cleanup.policy": "compact"} for t in args.compact}
    run_sync(
        ensure_topics(
            bootstrap,
            [*args.topics, *args.compact],
            args.partitions,
            replication_factor=args.replication_factor,
            topic_configs=configs,
            timeout=args.timeout,
        )
    )
    _err(f"topics ready on {bootstrap}: {', '.join([*args.topics, *args.compact])}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    broker = _broker(args, tie_to_parent=True)
    if broker.is_running():
        _err(f"broker {args.name!r} is already running in the background; stop it first")
        return 1

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    # A shell starting us in the background sets SIGINT to "ignore"; Ctrl-C / kill -INT must still stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        bootstrap = broker.start()
        if args.topics:
            run_sync(ensure_topics(bootstrap, args.topics, args.partitions, client_config=broker.client_config()))
        _secured_note(broker)
        _err(f"broker {args.name!r} running at {bootstrap}; logs in {broker.log_file}; Ctrl-C to stop")
        print(bootstrap, flush=True)
        code = broker.wait()
        _err(f"broker exited by itself with code {code}; see {broker.log_file}")
        return 1
    except KeyboardInterrupt:
        _err("stopping broker ...")
        return 0
    finally:
        broker.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localkafka", description=f"Local Apache Kafka {KAFKA_VERSION} (KRaft)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logs")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch", help="download the broker jars with Maven (skipped if present)")
    p.add_argument("--force", action="store_true", help="download again")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("start", help="start a broker in the background and print its bootstrap address")
    _add_broker_args(p)
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("stop", help="stop a background broker (SIGTERM, then SIGKILL)")
    p.add_argument("--name", default="dev")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("status", help="list brokers (or one, with --name; exit 3 if it is stopped)")
    p.add_argument("--name")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("create-topics", help="create topics if missing (idempotent)")
    p.add_argument("--bootstrap", help=f"HOST:PORT (default: ${BOOTSTRAP_ENV})")
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--replication-factor", type=int, help="default: min(3, number of brokers)")
    p.add_argument("--compact", nargs="*", default=[], metavar="TOPIC", help="topics with cleanup.policy=compact")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("topics", nargs="*", metavar="TOPIC")
    p.set_defaults(func=cmd_create_topics)

    p = sub.add_parser("run", help="run a broker in the foreground until Ctrl-C")
    _add_broker_args(p)
    p.add_argument("--topics", nargs="*", default=[], metavar="TOPIC", help="create these topics once up")
    p.add_argument("--partitions", type=int, default=3)
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # aiokafka logs every refused connection while the broker boots; that is expected noise.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args))
    except (FetchError, StartError, KafkaError, ValueError) as exc:
        _err(f"error: {exc}")
        return 1
    except TimeoutError:
        _err("error: timed out")
        return 1
