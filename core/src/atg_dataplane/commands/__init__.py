"""The replication commands, one module each, over :mod:`atg_dataplane.api`: they read
options, call the API, and print (text or JSON) and exit; nothing else."""

from atg_dataplane.commands.permissions import permissions_command
from atg_dataplane.commands.plan import plan_command
from atg_dataplane.commands.replicate import deploy_command, replicate_command
from atg_dataplane.commands.terraform import terraform_command
from atg_dataplane.commands.verify import verify_command

COMMANDS = (
    permissions_command,
    plan_command,
    replicate_command,
    verify_command,
    terraform_command,
    deploy_command,
)
