"""Studio settings from YOLOCLS_* environment variables (and `yolocls studio` flags)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from yolocls.serving.engine import ApiKey

DB_FILE = "studio.db"


class StudioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YOLOCLS_", extra="ignore")

    home: Path = Field(default_factory=Path.cwd, description="Project folder: datasets/, runs/, models/, the "
                       "database; the same datasets/ and runs/ the CLI uses")
    # Not YOLOCLS_HOST/YOLOCLS_PORT: those are `yolocls serve`'s, and both may run on one machine (the old names
    # still work for the studio when the new ones are not set, with a deprecation line: `deprecated_env`)
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("YOLOCLS_STUDIO_HOST", "host"))
    port: int = Field(default=8080, ge=1, le=65535, validation_alias=AliasChoices("YOLOCLS_STUDIO_PORT", "port"))
    database_url: str | None = Field(default=None, description="SQLAlchemy URL (default: sqlite in home)")
    ray_address: str | None = Field(default=None, description="Join this Ray cluster (default: RAY_ADDRESS, "
                                    "else a local Ray started by the studio)")
    api_key: ApiKey = Field(default=None, description="When set, every /api route needs X-API-Key")
    api_keys: SecretStr | None = Field(default=None, description="Named keys, 'name:key,name:key' (one per "
                                       "person, e.g. each annotator): any of them (or YOLOCLS_API_KEY) opens /api, "
                                       "and label changes record the key's name as their author")
    insecure: bool = Field(default=False, description="Allow a non-loopback address without an API key")
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1, description="Largest dataset upload (413 above)")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="Largest model predict request "
                                "(413 above; the same setting and default as `yolocls serve`)")
    max_json_bytes: int = Field(default=2 * 1024 * 1024, ge=1, description="Largest body of every other request "
                                "(413 above)")
    max_labels_bytes: int = Field(default=64 * 1024 * 1024, ge=1, description="Largest labels CSV import (413 "
                                  "above)")
    max_inflight_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="Bytes of request bodies "
                                         "held in memory at once, over all requests (503 above)")
    allowed_hosts: str = Field(default="", description="Comma-separated Host names the studio answers to, '*' "
                               "for any (default: loopback names when bound to loopback, else any)")
    keep_uploads: bool = Field(default=False, description="Keep each dataset's uploaded archive (a folder upload "
                               "is kept as a tar) after its preparation, until the dataset is deleted; by default "
                               "it is freed as soon as the dataset is prepared or has failed")
    max_queued_jobs: int = Field(default=100, ge=1, description="Most jobs waiting to start (429 above)")
    cpu_training_slots: int = Field(default=1, ge=1, description="Training jobs at once on a CPU-only cluster")
    prepare_slots: int = Field(default=1, ge=1, description="Dataset preparation jobs at once")
    deploy_slots: int = Field(default=1, ge=1, description="Model deployments (export + parity check) at once")
    cancel_grace_s: float = Field(default=60.0, ge=0, description="A cancelled job that has not stopped after "
                                  "this long is killed")
    train_cpus: int = Field(default=0, ge=0, description="CPUs a training job reserves on its node, and the torch "
                            "threads it trains with (0: a CPU job gets the largest node's CPUs shared by the CPU "
                            "training slots; a GPU job the node's CPUs per GPU)")
    reconnect_s: float = Field(default=5.0, gt=0, description="While the job engine (Ray) is unavailable, how often "
                               "the studio tries to reconnect")
    auto_resume: int = Field(default=0, ge=0, description="Resume a training job interrupted by a lost node or a "
                             "lost job engine by itself, up to this many times (0: never; it waits for you)")
    poll_s: float = Field(default=0.25, gt=0, description="How often jobs are checked for progress")
    sse_ping_s: float = Field(default=15.0, gt=0, description="A keep-alive comment on an event stream this often "
                              "(proxies close streams that stay silent during a long epoch)")


    @classmethod
    def deprecated_env(cls, environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """Values the studio still takes from `yolocls serve`'s YOLOCLS_HOST/YOLOCLS_PORT, and the lines saying
        so (when the studio's own YOLOCLS_STUDIO_HOST/PORT are not set)."""
        values, lines = {}, []
        for field, old, new in (("host", "YOLOCLS_HOST", "YOLOCLS_STUDIO_HOST"),
                                ("port", "YOLOCLS_PORT", "YOLOCLS_STUDIO_PORT")):
            if old in environ and new not in environ:
                values[field] = environ[old]
                lines.append(f"warning: {old} is `yolocls serve`'s setting; for the studio it is deprecated, use "
                             f"{new}")
        return values, lines

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("api_keys")
    @classmethod
    def _named_keys(cls, value: SecretStr | None) -> SecretStr | None:
        for entry in (value.get_secret_value().split(",") if value else []):
            name, _, key = entry.strip().partition(":")
            if not name.strip() or len(key.strip()) < 8 or len(name) > 100:
                raise ValueError("YOLOCLS_API_KEYS: each entry is 'name:key' (a key of 8 characters or more)")
        return value

    @property
    def auth_required(self) -> bool:
        return self.api_key is not None or self.api_keys is not None

    def author_for(self, given: str | None) -> str | None:
        """Who a request's X-API-Key belongs to: a named key's name, 'api-key' for YOLOCLS_API_KEY, 'local' when
        the studio has no keys; None when the key matches none (refused)."""
        if not self.auth_required:
            return "local"
        if not given:
            return None
        found = None
        single = self.api_key.get_secret_value() if self.api_key is not None else None
        if single and secrets.compare_digest(given.encode(), single.encode()):
            found = "api-key"
        for entry in (self.api_keys.get_secret_value().split(",") if self.api_keys else []):
            name, _, key = entry.strip().partition(":")
            if secrets.compare_digest(given.encode(), key.strip().encode()):
                found = name.strip()
        return found

    @property
    def allowed_host_list(self) -> list[str]:
        return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]

    def relative(self, text: str) -> str:
        """`text` with every mention of the home folder made relative: answers never name server paths."""
        if self.home == Path(self.home.anchor):  # a home at the filesystem root: every path is "inside" it
            return text
        return text.replace(f"{self.home}/", "").replace(str(self.home), ".")

    def relative_json(self, value: Any) -> Any:
        """`relative` applied to every string inside a JSON-like value (run records name their dataset)."""
        if isinstance(value, str):
            return self.relative(value)
        if isinstance(value, list):
            return [self.relative_json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.relative_json(v) for k, v in value.items()}
        return value

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / DB_FILE).resolve()}"

    def folder(self, name: str) -> Path:
        path = (self.home / name).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
