"""What every page of the shell needs: the actor, their companies, the unread notification count."""


def shell(request):
    return {}
