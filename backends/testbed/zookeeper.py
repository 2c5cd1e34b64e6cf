"""ZooKeeper: a 3-member ensemble of QuorumPeerMain from Debian's jars, zoo.cfg.in filled in."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from . import env_names
from .envfile import read_env_file, server_env
from .errors import BackendError
from .install import on_path, which
from .kind import ServerKind, StartOptions
from .member import HOST, Member
from .newer import NewerServer, unpacked_root
from .probe import exchange
from .state import BACKENDS_DIR

MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
# Debian's zookeeper.jar names its other dependencies in its manifest's Class-Path; SLF4J's
# binding to log4j 1.2 and log4j itself are not there, so without them nothing is logged.
CLASSPATH = (
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
)
CONFIG_DIR = BACKENDS_DIR / "zookeeper"  # zoo.cfg.in, java.env, log4j.properties


def fill_config(values: dict[str, str]) -> str:
    """zoo.cfg.in with its ``{{KEY}}`` placeholders replaced by ``values``."""
    text = (CONFIG_DIR / "zoo.cfg.in").read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def java_command(config: Path, log_dir: Path, classpath: Sequence[str]) -> list[str]:
    """java running QuorumPeerMain on ``config``, its log4j file in ``log_dir``."""
    jvm_flags = read_env_file(CONFIG_DIR / "java.env").get("SERVER_JVMFLAGS", "")
    log4j = CONFIG_DIR / "log4j.properties"
    return [
        which("java"),
        *shlex.split(jvm_flags),
        f"-Dzookeeper.log.dir={log_dir}",
        "-Dzookeeper.log.file=zookeeper.log",
        f"-Dlog4j.configuration=file:{log4j}",
        "-cp",
        ":".join(classpath),
        MAIN_CLASS,
        str(config),
    ]


def mode(member: Member) -> str | None:
    """``Mode`` from the 4lw ``srvr`` (leader, follower...), None if not serving."""
    for line in exchange(member.port, b"srvr").decode(errors="replace").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


class ZooKeeper(ServerKind):
    """zookeeper-1..3; healthy when leading or following, the zab leader from ``srvr``."""

    store = "zookeeper"
    url_variable = env_names.ZK_URL
    package = "zookeeper"
    default_ports = (2181,)
    # ZooKeeper 3.9's jars run on Debian 12's Java and dependency jars (its manifest names them),
    # ahead of the 3.8 jars on the path
    newer = NewerServer("3.9", "libzookeeper-java", env_names.ZOOKEEPER_VERSION)

    def layout(self, offset: int) -> tuple[Member, ...]:
        return tuple(
            Member(
                f"zookeeper-{i}",
                "zookeeper",
                i,
                21810 + i + offset,
                (28880 + i + offset, 38880 + i + offset),
            )
            for i in (1, 2, 3)
        )

    def installed(self) -> bool:
        return all(Path(jar).is_file() for jar in CLASSPATH) and on_path("java")

    def command(self, member: Member, options: StartOptions) -> tuple[list[str], dict[str, str]]:
        """java running QuorumPeerMain from Debian's jars, logging to the member's directory."""
        config = self._write_config(member)
        return java_command(config, member.directory, self._classpath()), server_env()

    def _write_config(self, member: Member) -> Path:
        """Fill in zoo.cfg.in for this member, write its myid; the config file's path."""
        data = self.data_dir(member)
        data.mkdir(parents=True, exist_ok=True)
        (data / "myid").write_text(f"{member.index}\n")
        text = fill_config(
            {
                "DATA_DIR": str(data),
                "CLIENT_PORT": str(member.port),
                "CLIENT_ADDRESS": HOST,
                **{f"HOST_{m.index}": HOST for m in self.members},
                **{f"QUORUM_{m.index}": str(m.peer_ports[0]) for m in self.members},
                **{f"ELECTION_{m.index}": str(m.peer_ports[1]) for m in self.members},
            }
        )
        unfilled = [line for line in text.splitlines() if "{{" in line and not line.startswith("#")]
        if unfilled:
            raise BackendError(f"zoo.cfg.in: launch.py does not fill in {unfilled}")
        config = member.directory / "zoo.cfg"
        config.write_text(text)
        return config

    def _classpath(self) -> list[str]:
        """Debian 12's jars, or the newer ZooKeeper's (jute first: the manifest's path names the
        system's zookeeper-jute.jar, which must not be found first)."""
        if self.newer is None or self.version() is None:
            return list(CLASSPATH)
        jars = unpacked_root(self.newer) / "usr" / "share" / "java"
        return [str(jars / "zookeeper-jute.jar"), str(jars / "zookeeper.jar"), *CLASSPATH[1:]]

    def healthy(self, member: Member) -> bool:
        """The member leads or follows."""
        return mode(member) in ("leader", "follower")

    def role(self, member: Member) -> str | None:
        return mode(member)

    def leader(self) -> str | None:
        """The one member whose ``srvr`` says leader; None if none, or several."""
        leaders = [m.name for m in self.members if mode(m) == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def log_files(self, member: Member) -> list[Path]:
        """stdout and stderr, and the log4j file."""
        return [member.output_log, member.directory / "zookeeper.log"]

    def url(self) -> str:
        return "zk://" + ",".join(f"{HOST}:{m.port}" for m in self.members)
