"""Tables of 110 command and dispatch: incidents (警情) and the calls about them, patrol units
with their crews and assignments, diversions to other agencies, and the number sequence.

Times are UTC; every step of an incident has its own column so timing is a plain query."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jingwu.core.models import Unit
from jingwu.dispatch.classifier import Category, Priority
from jingwu.dispatch.diversion import DiversionKind
from jingwu.dispatch.workflow import IncidentStatus, UnitStatus


class LocatedBy(models.TextChoices):
    COORDINATES = "coordinates", _("坐标落网格")
    ADDRESS = "address", _("地址落行政区划")
    CENTRE = "centre", _("未能定位（归接警中心）")


class IncidentResult(models.TextChoices):
    """处警结果. The first group closes the incident, "referred" refers it, "case" hands it on."""

    HANDLED = "handled", _("现场处置完毕")
    MEDIATED = "mediated", _("调解处理")
    ADVISED = "advised", _("电话解答")
    NO_FINDING = "no_finding", _("到场未发现")
    CANCELLED = "cancelled", _("报警人取消")
    INVALID = "invalid", _("无效警情")
    REFERRED = "referred", _("移交其他部门")
    CASE = "case", _("转为案件办理")
    TRANSFERRED = "transferred", _("分流单位办结")  # set by the agency's feedback, never by hand


class CallChannel(models.TextChoices):
    TELEPHONY = "telephony", _("110电话接入")
    DISPATCHER = "dispatcher", _("接警员录入")


class Incident(models.Model):
    """One event the police deal with; the calls about it hang below it."""

    number = models.CharField(max_length=24, unique=True)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.RECEIVED)
    # Confirmed by the dispatcher (empty until then) …
    category = models.CharField(max_length=16, choices=Category.choices, blank=True)
    subcategory = models.CharField(max_length=32, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, null=True, blank=True)
    # … and what the classifier suggested, with the table version, to count corrections.
    suggested_category = models.CharField(max_length=16, blank=True)
    suggested_subcategory = models.CharField(max_length=32, blank=True)
    suggested_priority = models.PositiveSmallIntegerField(null=True, blank=True)
    classifier_rule = models.CharField(max_length=48, blank=True)
    classifier_version = models.CharField(max_length=16, blank=True)
    corrected = models.BooleanField(null=True, blank=True)  # None until confirmed
    summary = models.CharField(max_length=500, blank=True)
    # Where: coordinates when known, the address as told, the grid, station and county found.
    address = models.CharField(max_length=255, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    located_by = models.CharField(max_length=12, choices=LocatedBy.choices, default=LocatedBy.CENTRE)
    grid = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    station = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    county = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The city whose 110 centre took the first call (numbers are per centre and day).
    centre = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    # The most precise responsible unit: grid, else station, else county, else the centre.
    # Who sees the incident follows from it.
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    # Timing: every step, UTC.
    received_at = models.DateTimeField()  # the first call rang
    answered_at = models.DateTimeField(null=True, blank=True)  # the first call answered
    classified_at = models.DateTimeField(null=True, blank=True)
    diverted_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)  # the first unit sent
    arrived_at = models.DateTimeField(null=True, blank=True)  # the first unit on scene
    cleared_at = models.DateTimeField(null=True, blank=True)  # the last unit cleared
    closed_at = models.DateTimeField(null=True, blank=True)  # result recorded
    result = models.CharField(max_length=16, choices=IncidentResult.choices, blank=True)
    result_text = models.CharField(max_length=1000, blank=True)
    result_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    # Case hand-off: the case module's reference once it accepted the incident.
    case_reference = models.CharField(max_length=64, blank=True)
    case_accepted_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["received_at"]),
            models.Index(fields=["unit", "status"]),
            # Repeat calls: open incidents near a latitude (services._repeat_of).
            models.Index(fields=["status", "lat"], name="incident_status_lat"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(lat__isnull=True, lon__isnull=True)
                                   | Q(lat__gte=-90, lat__lte=90, lon__gte=-180, lon__lte=180),
                                   name="incident_lat_lon_together"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None


class Call(models.Model):
    """One call (or one entry by a dispatcher) about an incident."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="calls")
    channel = models.CharField(max_length=12, choices=CallChannel.choices)
    # The telephony system's id for the call: the same id again is the same call.
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    caller_number = models.CharField(max_length=24, blank=True)  # E.164 for CN numbers, else digits
    received_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    address = models.CharField(max_length=255, blank=True)
    content = models.TextField()
    suggested_category = models.CharField(max_length=16, blank=True)
    suggested_subcategory = models.CharField(max_length=32, blank=True)
    suggested_priority = models.PositiveSmallIntegerField(null=True, blank=True)
    classifier_rule = models.CharField(max_length=48, blank=True)
    classifier_version = models.CharField(max_length=16, blank=True)
    # Attached to an incident that already existed (a repeat call), and why.
    repeat = models.BooleanField(default=False)
    repeat_reason = models.CharField(max_length=64, blank=True)
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [models.Index(fields=["caller_number", "received_at"])]

    def __str__(self) -> str:
        return f"call {self.pk} of {self.incident_id}"


class PatrolKind(models.TextChoices):
    CAR = "car", _("巡逻车")
    MOTORCYCLE = "motorcycle", _("摩托车")
    FOOT = "foot", _("步巡")


class PatrolUnit(models.Model):
    """A patrol unit (巡逻组): a crew with a vehicle on a shift, based at a station."""

    call_sign = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    station = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="patrol_units")
    grid = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")  # beat
    kind = models.CharField(max_length=12, choices=PatrolKind.choices, default=PatrolKind.CAR)
    vehicle_plate = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=UnitStatus.choices, default=UnitStatus.AVAILABLE)
    status_at = models.DateTimeField(default=timezone.now)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Last reported position, and its cell in the recommendation's lattice (see distance.py).
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    cell = models.BigIntegerField(null=True, blank=True)
    position_at = models.DateTimeField(null=True, blank=True)
    shift_label = models.CharField(max_length=32, blank=True)
    shift_start = models.DateTimeField(null=True, blank=True)
    shift_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["call_sign"]
        indexes = [models.Index(fields=["status", "cell"]), models.Index(fields=["station", "status"])]

    def __str__(self) -> str:
        return self.call_sign


class PatrolMember(models.Model):
    patrol_unit = models.ForeignKey(PatrolUnit, on_delete=models.CASCADE, related_name="members")
    name = models.CharField(max_length=50)
    badge_number = models.CharField(max_length=16, blank=True)  # 警号; auxiliaries have none
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    leader = models.BooleanField(default=False)
    auxiliary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-leader", "id"]

    def __str__(self) -> str:
        return self.name


class AssignmentEnd(models.TextChoices):
    CLEARED = "cleared", _("处置完毕")
    RECALLED = "recalled", _("撤回")
    CLOSED = "closed", _("警情办结时收回")


class Assignment(models.Model):
    """One unit sent to one incident (出警记录), with its own times."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="assignments")
    patrol_unit = models.ForeignKey(PatrolUnit, on_delete=models.PROTECT, related_name="assignments")
    dispatched_at = models.DateTimeField()
    dispatched_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    # The recommendation as shown when the unit was chosen.
    distance_m = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    en_route_at = models.DateTimeField(null=True, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end = models.CharField(max_length=12, choices=AssignmentEnd.choices, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dispatched_at", "id"]
        constraints = [
            # The database's own guard against one unit on two incidents at once.
            models.UniqueConstraint(fields=["patrol_unit"], condition=Q(ended_at__isnull=True),
                                    name="one_open_assignment_per_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.patrol_unit_id}→{self.incident_id}"

    @property
    def open(self) -> bool:
        return self.ended_at is None


class UnitStatusChange(models.Model):
    """Every status change of a patrol unit, for its timeline and the board."""

    patrol_unit = models.ForeignKey(PatrolUnit, on_delete=models.CASCADE, related_name="status_changes")
    at = models.DateTimeField()
    old = models.CharField(max_length=16, choices=UnitStatus.choices)
    new = models.CharField(max_length=16, choices=UnitStatus.choices)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["patrol_unit", "at"])]


class DiversionStatus(models.TextChoices):
    SENT = "sent", _("已转出")
    ACCEPTED = "accepted", _("对方已受理")
    DONE = "done", _("对方已办结")
    REFUSED = "refused", _("对方退回")


class Diversion(models.Model):
    """A transfer or notice of an incident to another agency, and the agency's answer."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="diversions")
    kind = models.CharField(max_length=12, choices=DiversionKind.choices)
    agency = models.CharField(max_length=16)  # diversion.AGENCIES key
    rule = models.CharField(max_length=48, blank=True)  # diversion.RULES key, "" when chosen by hand
    status = models.CharField(max_length=12, choices=DiversionStatus.choices, default=DiversionStatus.SENT)
    note = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField()
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    # The agency's answer: its ticket number, its words, when.
    agency_reference = models.CharField(max_length=64, blank=True)
    feedback = models.CharField(max_length=1000, blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sent_at", "id"]
        indexes = [models.Index(fields=["status", "sent_at"])]

    def __str__(self) -> str:
        return f"{self.incident_id}→{self.agency}"


class IncidentSequence(models.Model):
    """The last incident number given per centre and day; writers lock the row."""

    centre_code = models.CharField(max_length=12)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["centre_code", "day"], name="one_sequence_per_centre_day")]
