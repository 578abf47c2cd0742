"""Fixtures of the container tests (marker `containers`): the compose stack, up once for the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.containers.compose import ComposeStack, prepare_engine_and_images


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/containers/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.containers)


@pytest.fixture(scope="session")
def stand_in_images() -> dict[str, str]:
    return prepare_engine_and_images()


@pytest.fixture(scope="module")
def compose_stack(stand_in_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    stack = ComposeStack(tmp_path_factory.mktemp("compose"), stand_in_images)
    stack.write_env_file()
    try:
        stack.up(build=True)
        yield stack
    finally:
        stack.down(volumes=True)  # always: containers, network and volumes of this project
