"""The one configuration object; every variable is prefixed ATIVA_ (see README)."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATIVA_", extra="ignore")

    data_dir: Path = Field(Path("./var"), description="Folder for the embedded SQLite database.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/ativa.db."
    )
    timezone: str = Field(
        "America/Sao_Paulo", description="Provider time zone: decides when an invoice is past due."
    )
    host: str = Field("127.0.0.1", description="Address `ativa serve` listens on.")
    port: int = Field(8000, description="Port `ativa serve` listens on.")
    max_body_bytes: int = Field(65536, description="Largest accepted request body.")
    idempotency_ttl_hours: int = Field(
        24, description="How long an Idempotency-Key replays its first response."
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ativa.db').resolve()}"

    @property
    def is_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
