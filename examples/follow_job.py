"""Follow one job live, like the seed's Flutter listener: python examples/follow_job.py URL KEY:SECRET ORG JOB_ID"""

import sys

import socketio

url, token, organization, job_id = sys.argv[1:5]
sio = socketio.Client()


@sio.on("job_progress")
def on_progress(data):
    print(f"Job {data['job_id']}: {data['progress']}% {data['progress_message'] or ''}")


@sio.on("job_status_changed")
def on_status(data):
    print(f"Job {data['job_id']} changed to {data['to_status']} {data['output_reference'] or ''}")
    if data["job_id"] == job_id and data["to_status"] in ("Completed", "Dead Letter", "Canceled"):
        sio.disconnect()


sio.connect(url, transports=["websocket"], auth={"token": token})  # or headers={"Authorization": ...}
print(sio.call("join_room", f"org:{organization}"))
status = sio.call("job_status", job_id)["message"]["status"]  # the state now: nothing lost to a reconnect
print(f"Job {job_id} is {status}")
if status in ("Completed", "Dead Letter", "Canceled"):
    sio.disconnect()
sio.wait()
