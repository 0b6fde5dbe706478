"""Build hook: put the top-level magics/ and controller/ inside the wheel's hanzo_ml_lab/.

Only for the standard wheel. An editable install maps just ``hanzo_ml_lab`` to the source tree,
where the symlinks hanzo_ml_lab/magics and hanzo_ml_lab/controller point at the real folders;
force-including them there would shadow the source package with a copy.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        build_data["force_include"]["magics"] = "hanzo_ml_lab/magics"
        build_data["force_include"]["controller"] = "hanzo_ml_lab/controller"
