"""The arms ArmReach ships, and how an ``Arm`` (envs/arm.py) is read from any URDF.

``PRESETS`` names the three arms of ``pybullet_data`` with their end-effector link, home pose and
target box (chosen and checked in tests/test_env_v1.py: no contact at home, every target reached by
an IK controller within the time limit). ``load_arm`` parses a URDF with PyBullet itself
(``getJointInfo``: joint type, parent link, names): the controlled joints are the revolute and
prismatic joints on the path from the base to the end-effector link, without gripper fingers.
Every other movable joint (the fingers, other branches) is held by its motor at the middle of its
range, so that the fingers neither flap nor touch each other.
"""

import math
import pathlib
from dataclasses import dataclass

import numpy as np
import pybullet_data

from envs.arm import Arm
from envs.bullet import BulletClient, pybullet

# A URDF may leave out effort and velocity limits (PyBullet then reports 0); these stand in.
DEFAULT_FORCE = 100.0
DEFAULT_VELOCITY = 10.0
# Limits of joints the URDF leaves unlimited ("continuous"): two turns each way keep the
# observation bounded without getting in the way of any reach.
UNLIMITED = 2 * math.pi
MOVABLE = (pybullet.JOINT_REVOLUTE, pybullet.JOINT_PRISMATIC)


@dataclass(frozen=True)
class Preset:
    """A shipped arm: its URDF in pybullet_data and the defaults ArmReach-v1 uses for it."""

    urdf: str
    ee_link: str
    home_pose: tuple[float, ...]
    target_low: tuple[float, float, float]
    target_high: tuple[float, float, float]


PRESETS = {
    # ArmReach-v0's arm, home pose and target box (all above the floor already).
    "kuka_iiwa": Preset(
        urdf="kuka_iiwa/model.urdf",
        ee_link="lbr_iiwa_link_7",
        home_pose=(0.0, 0.4, 0.0, -1.6, 0.0, 1.1, 0.0),
        target_low=(0.35, -0.3, 0.2),
        target_high=(0.75, 0.3, 0.6),
    ),
    # The grasp target (between the fingertips, 10.5 cm beyond the hand) is the point a user
    # would place on an object. The home pose is Franka's "ready" pose leaned forward (joints 2
    # and 6) until the grasp target sits at the centre of the box, hand pointing down: from the
    # ready pose itself (20 cm off centre) PPO reached only 44% in 160k steps. The box is scaled
    # to the Panda's 0.85 m reach (the iiwa's is 1.26 m).
    "franka_panda": Preset(
        urdf="franka_panda/panda.urdf",
        ee_link="panda_grasptarget",
        home_pose=(0.0, -0.255, 0.0, -2.267, 0.0, 1.914, 0.785),
        target_low=(0.3, -0.25, 0.2),
        target_high=(0.6, 0.25, 0.5),
    ),
    # The flange (link6); the home pose bends the elbow so that the flange starts at the centre
    # of the box, in front of the arm. The box is scaled to the xArm6's 0.7 m reach.
    "xarm6": Preset(
        urdf="xarm/xarm6_robot.urdf",
        ee_link="link6",
        home_pose=(0.0, -0.184, -0.565, 0.0, 0.915, 0.0),
        target_low=(0.2, -0.25, 0.1),
        target_high=(0.5, 0.25, 0.4),
    ),
}


def urdf_path(robot: str) -> str:
    """The URDF file of a preset name or a path; a ValueError if there is none."""
    if robot in PRESETS:
        return str(pathlib.Path(pybullet_data.getDataPath()) / PRESETS[robot].urdf)
    path = pathlib.Path(robot).expanduser()
    if not path.is_file():
        raise ValueError(
            f"robot={robot!r} is neither a shipped arm nor an existing file; use one of "
            f"{sorted(PRESETS)} or the path of a URDF file."
        )
    return str(path.resolve())


def is_finger(name: str) -> bool:
    return "finger" in name.lower()


def load_arm(
    client: BulletClient, robot: str, ee_link: str | None, self_collision: bool, floor: int | None
) -> Arm:
    """Load `robot` with a fixed base at the origin and read its kinematic chain (module doc);
    with a `floor`, its contacts with the floor and (`self_collision`) itself count."""
    path = urdf_path(robot)
    flags = pybullet.URDF_USE_SELF_COLLISION | pybullet.URDF_USE_SELF_COLLISION_EXCLUDE_PARENT
    try:
        body = client.loadURDF(path, useFixedBase=True, flags=flags if self_collision else 0)
    except pybullet.error as error:
        raise ValueError(
            f"robot={robot!r}: PyBullet could not load {path} ({error}; its warning, if any, is "
            "printed above); check that the file is a valid URDF and that its meshes exist."
        ) from None
    infos = [client.getJointInfo(body, j) for j in range(client.getNumJoints(body))]
    link_names = tuple(info[12].decode() for info in infos)
    if not infos:
        raise ValueError(
            f"robot={robot!r}: {path} has a single link and no joint; ArmReach needs an arm "
            "with at least one revolute or prismatic joint."
        )
    if ee_link is None:
        ee = len(infos) - 1
    elif ee_link in link_names:
        ee = link_names.index(ee_link)
    else:
        raise ValueError(
            f"ee_link={ee_link!r} is not a link of {path}; use one of {list(link_names)} "
            "(or None for the last one)."
        )

    joints = tuple(
        j
        for j in reversed(path_to_base(infos, ee))
        if infos[j][2] in MOVABLE and not is_finger(infos[j][1].decode() + link_names[j])
    )
    if not joints:
        raise ValueError(
            f"robot={robot!r}: no revolute or prismatic joint between the base and "
            f"ee_link={link_names[ee]!r}; name an end-effector link further from the base with "
            f"ee_link=... (links: {list(link_names)})."
        )

    movable = [j for j, info in enumerate(infos) if info[2] in MOVABLE]
    lower, upper = limits(infos, movable)
    held = tuple(j for j in movable if j not in joints)
    mount = mount_links(infos)
    exclude_rigid_neighbours(client, body, infos, held, mount, floor)
    limit_of = {j: (lo, hi) for j, lo, hi in zip(movable, lower, upper, strict=True)}
    return Arm(
        client=client,
        name=robot,
        body=body,
        urdf=path,
        link_names=link_names,
        ee_link=ee,
        chain=tuple(reversed(path_to_base(infos, ee))),
        joints=joints,
        lower=np.array([limit_of[j][0] for j in joints]),
        upper=np.array([limit_of[j][1] for j in joints]),
        forces=np.array([infos[j][10] if infos[j][10] > 0 else DEFAULT_FORCE for j in joints]),
        max_velocity=np.array(
            [infos[j][11] if infos[j][11] > 0 else DEFAULT_VELOCITY for j in joints]
        ),
        held_joints=held,
        held_positions=np.array([sum(limit_of[j]) / 2 for j in held]),
        held_forces=np.array([infos[j][10] if infos[j][10] > 0 else DEFAULT_FORCE for j in held]),
        ik_indices=np.array([movable.index(j) for j in joints]),
        mount_links=mount,
        detects_collisions=floor is not None,
    )


def limits(infos: list[tuple], joints: list[int]) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = [], []
    for j in joints:
        lo, hi = infos[j][8], infos[j][9]
        if lo > hi:  # PyBullet's mark for "no limit"
            lo, hi = -UNLIMITED, UNLIMITED
        lower.append(lo)
        upper.append(hi)
    return np.array(lower), np.array(upper)


def rigid_groups(infos: list[tuple]) -> list[int]:
    """For each link, the first link of the rigid body it belongs to (-1: the base's)."""
    groups: list[int] = []
    for j, info in enumerate(infos):
        parent = info[16]
        fixed = info[2] == pybullet.JOINT_FIXED
        groups.append((-1 if parent == -1 else groups[parent]) if fixed else j)
    return groups


def path_to_base(infos: list[tuple], link: int) -> list[int]:
    """The links from `link` back to the base (each link shares its index with its joint)."""
    links = []
    while link != -1:
        links.append(link)
        link = infos[link][16]
    return links


def mount_links(infos: list[tuple]) -> tuple[int, ...]:
    groups = rigid_groups(infos)
    return (-1, *(j for j, group in enumerate(groups) if group == -1))


def exclude_rigid_neighbours(
    client: BulletClient,
    body: int,
    infos: list[tuple],
    held: tuple[int, ...],
    mount: tuple[int, ...],
    floor: int | None,
) -> None:
    """Ignore contacts that are the arm's construction, not a collision.

    PyBullet's EXCLUDE_PARENT skips a link and its parent only; URDFs often put massless fixed
    links in between (the Panda's link8 between link7 and the hand, whose meshes overlap), so
    links welded together, and the two rigid bodies on either side of each movable joint, are
    excluded here too. The parts of a gripper (links behind the joints the env holds) are not
    checked against each other: a gripper's linkage touches itself by design (the xArm gripper's
    knuckles); they still collide with the arm and the floor. The base and whatever is welded to
    it stand on the floor by design.
    """
    gripper = {j for j in range(len(infos)) if any(h in held for h in path_to_base(infos, j))}
    groups = rigid_groups(infos)
    links = range(-1, len(infos))
    group_of = {-1: -1, **dict(enumerate(groups))}
    neighbours = {(group, group) for group in set(group_of.values())}
    for j, info in enumerate(infos):
        if info[2] != pybullet.JOINT_FIXED:
            parent_group = group_of[info[16]]
            neighbours |= {(j, parent_group), (parent_group, j)}
    for a in links:
        for b in links:
            if a < b and ((group_of[a], group_of[b]) in neighbours or {a, b} <= gripper):
                client.setCollisionFilterPair(body, body, a, b, 0)
    for link in mount if floor is not None else ():
        client.setCollisionFilterPair(floor, body, -1, link, 0)
