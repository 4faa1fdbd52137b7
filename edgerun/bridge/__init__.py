"""The datacenter bridge: MQTT batches from gateways into Graphite and InfluxDB.

``edgerun bridge -c FILE`` runs :class:`edgerun.bridge.consumer.Bridge`: an MQTT 5 consumer
on a shared subscription that decodes payload v1 batches, drops readings already written
(:mod:`edgerun.bridge.dedupe`), writes the rest to every configured sink and only then
acknowledges the MQTT message. docs/bridge.md is the operator's and sink author's guide.
"""
