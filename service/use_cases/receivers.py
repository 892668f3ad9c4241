"""Who may receive pupils in a handover: a person of the school whose role takes custody."""

from __future__ import annotations

from service.domain.common import Actor, Role
from service.domain.device import is_device
from service.domain.errors import RuleError
from service.domain.school import School

# The roles that hold children: an inspector reads, and a device is a tool, never a custodian.
CUSTODY_ROLES = frozenset({Role.TEACHER, Role.GUARD, Role.DUTY_LEADER, Role.SAFETY_OFFICER, Role.ADMIN})


def require_custody_receiver(school: School, staff_id: str) -> None:
    """Refuse a handover to a paired device or to someone who cannot take custody; an unknown
    or departed member is answered as not found, as before."""
    member = school.member(staff_id)
    if is_device(staff_id):
        raise RuleError(f"{member['name']} is a device: a handover goes to the adult who takes "
                        "the pupils.", field="to_staff_id")
    if not CUSTODY_ROLES & set(member["roles"]):
        raise RuleError(f"{member['name']} ({', '.join(member['roles'])}) cannot take custody "
                        "of pupils: hand them to a teacher, a guard, a duty leader, a safety "
                        "officer or an admin.", field="to_staff_id")


class GuardNotSignedOnError(RuleError):
    title = "No guard signed on"
    code = "guard-not-signed-on"

    def __init__(self) -> None:
        super().__init__("A gate tablet releases, refuses and takes calls only under the guard "
                         "signed on at it: sign on first.", field="X-Guard-Id")


def require_person(actor: Actor) -> None:
    """A release, a refusal or a guardian's call is made by a named person: a shared tablet acts
    under the guard signed on at it (X-Guard-Id), never as itself."""
    if is_device(actor.staff_id):
        raise GuardNotSignedOnError()
