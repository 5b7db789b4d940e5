/**
 * What a cgroup path says about its owner: the systemd unit, the Kubernetes pod (uid, QoS class)
 * and container, or a docker/podman container. Pure string work on the path relative to the
 * cgroup2 mount, so exporters can label series the way operators search for them.
 */

/** Labels a cgroup path implies; a label is absent when the path does not say. */
export interface CgroupLabels {
  /** The innermost systemd unit or slice (`nginx.service`, `user-1000.slice`). */
  unit?: string;
  /** Kubernetes pod UID (dashes, as the API shows it). */
  pod_uid?: string;
  /** Kubernetes QoS class: `guaranteed`, `burstable` or `besteffort`. */
  qos_class?: string;
  /** Container id (64 hex digits for containerd, CRI-O, docker and podman). */
  container_id?: string;
}

const UNIT = /\.(service|scope|slice|socket|mount|swap|target|timer|path|device|automount)$/;
/** `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, `libpod-<id>.scope`. */
const SCOPE_CONTAINER = /^(?:cri-containerd|crio|docker|libpod)-([0-9a-f]{12,64})\.scope$/;
/** systemd driver: `kubepods-burstable-pod<uid with _>.slice`, `kubepods-pod<uid>.slice`. */
const SYSTEMD_POD = /^kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]{36})\.slice$/;
/** cgroupfs driver: `pod<uid>`. */
const CGROUPFS_POD = /^pod([0-9a-f-]{36})$/;
const BARE_ID = /^[0-9a-f]{64}$/;

/**
 * The labels `path` implies. `path` is relative to the cgroup2 mount, with or without a leading
 * `/` (`/system.slice/nginx.service`, `kubepods/burstable/pod<uid>/<id>`).
 */
export function cgroupLabels(path: string): CgroupLabels {
  const parts = path.split("/").filter((p) => p !== "");
  const out: CgroupLabels = {};
  for (let i = parts.length - 1; i >= 0 && out.unit === undefined; i--) {
    if (UNIT.test(parts[i]!)) out.unit = parts[i]!;
  }
  const k8s = parts.findIndex((p) => p === "kubepods" || p === "kubepods.slice");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const scoped = SCOPE_CONTAINER.exec(p);
    if (scoped) out.container_id = scoped[1]!;
    if (k8s < 0 || i <= k8s) continue;
    const sd = SYSTEMD_POD.exec(p);
    if (sd) {
      out.pod_uid = sd[2]!.replace(/_/g, "-");
      out.qos_class = sd[1] ?? "guaranteed";
      continue;
    }
    const fs = CGROUPFS_POD.exec(p);
    if (fs) {
      out.pod_uid = fs[1]!;
      const qos = parts[i - 1];
      out.qos_class = qos === "burstable" || qos === "besteffort" ? qos : "guaranteed";
      continue;
    }
    // cgroupfs driver: the container's cgroup is its bare id, right below the pod.
    if (out.pod_uid !== undefined && BARE_ID.test(p)) out.container_id = p;
  }
  return out;
}
