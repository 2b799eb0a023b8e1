import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HiveHealth, HiveStatusSchema } from "../../gen/apiary/v1/queen_pb.js";
import { GpuHealthState } from "../../gen/apiary/v1/telemetry_pb.js";
import { DashboardState } from "../../src/dashboard/dashboard-state.js";
import { renderGpus } from "../../src/dashboard/render.js";
import { readViewOptions } from "../../src/dashboard/view-options.js";

describe("dashboard GPU table", () => {
  it("shows each GPU's health verdict with its reasons (escaped), and – for a GPU not judged", () => {
    const state = new DashboardState();
    state.hives.set("a", create(HiveStatusSchema, {
      info: { hiveId: "a" },
      health: HiveHealth.HEALTHY,
      devices: [
        { index: 0, uuid: "GPU-0", name: "H100", health: { state: GpuHealthState.UNHEALTHY, reasons: ["Xid 79 (reset needed)", "<b>x</b>"] } },
        { index: 1, uuid: "GPU-1", name: "H100" },
      ],
    }));
    const html = renderGpus(state, readViewOptions(""));
    expect(html).toContain("<th>Health</th>");
    expect(html).toContain('class="gpu-health gpu-unhealthy" title="Xid 79 (reset needed); &#60;b&#62;x&#60;/b&#62;"');
    expect(html).not.toContain("<b>x</b>");
    expect(html).toMatch(/data-gpu-uuid="GPU-1".*<td class="gpu-health">–<\/td>/);
  });
});
