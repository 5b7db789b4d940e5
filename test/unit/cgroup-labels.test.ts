import { describe, expect, test } from "../helpers/harness.ts";
import { cgroupLabels } from "../../src/index.ts";

const UID = "0b5e5b0c-1f2e-4c3d-9a8b-7c6d5e4f3a2b";
const CID = "4f3c2b1a".repeat(8);

describe("cgroupLabels", () => {
  test("systemd units and slices: the innermost one", () => {
    expect(cgroupLabels("/system.slice/nginx.service")).toEqual({ unit: "nginx.service" });
    expect(cgroupLabels("system.slice")).toEqual({ unit: "system.slice" });
    expect(cgroupLabels("/user.slice/user-1000.slice/session-3.scope")).toEqual({ unit: "session-3.scope" });
    expect(cgroupLabels("/user.slice/user-1000.slice")).toEqual({ unit: "user-1000.slice" });
    expect(cgroupLabels("/")).toEqual({});
    expect(cgroupLabels("/my-app/web")).toEqual({});
  });

  test("Kubernetes, systemd driver: QoS slices and the guaranteed pod directly under kubepods", () => {
    const sdUid = UID.replace(/-/g, "_");
    expect(cgroupLabels(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${sdUid}.slice/cri-containerd-${CID}.scope`))
      .toEqual({ unit: `cri-containerd-${CID}.scope`, pod_uid: UID, qos_class: "burstable", container_id: CID });
    expect(cgroupLabels(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${sdUid}.slice/crio-${CID}.scope`))
      .toMatchObject({ pod_uid: UID, qos_class: "besteffort", container_id: CID });
    expect(cgroupLabels(`/kubepods.slice/kubepods-pod${sdUid}.slice`))
      .toEqual({ unit: `kubepods-pod${sdUid}.slice`, pod_uid: UID, qos_class: "guaranteed" });
  });

  test("Kubernetes, cgroupfs driver", () => {
    expect(cgroupLabels(`/kubepods/burstable/pod${UID}/${CID}`)).toEqual({ pod_uid: UID, qos_class: "burstable", container_id: CID });
    expect(cgroupLabels(`kubepods/pod${UID}/${CID}`)).toEqual({ pod_uid: UID, qos_class: "guaranteed", container_id: CID });
    expect(cgroupLabels(`/kubepods/besteffort/pod${UID}`)).toEqual({ pod_uid: UID, qos_class: "besteffort" });
  });

  test("docker and podman scopes outside Kubernetes", () => {
    expect(cgroupLabels(`/system.slice/docker-${CID}.scope`)).toEqual({ unit: `docker-${CID}.scope`, container_id: CID });
    expect(cgroupLabels(`/machine.slice/libpod-${CID}.scope/container`)).toEqual({ unit: `libpod-${CID}.scope`, container_id: CID });
  });

  test("look-alikes outside kubepods are not pods", () => {
    expect(cgroupLabels(`/app/pod${UID}/${CID}`)).toEqual({});
  });
});
