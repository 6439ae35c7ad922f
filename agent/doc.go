// Package agent is kuaifan's edge agent: it runs on a patrol device, reports
// the unit's position and status to the hub over MQTT, and carries out the
// hub's commands.
package agent
