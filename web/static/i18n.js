/* Labels of the web map in English and Chinese (simplified). t(key, vars) picks the chosen language. */
"use strict";
window.SKYGUARD_LABELS = {
  en: {
    title: "SkyGuard ground station", user_name: "User name", password: "Password", log_in: "Log in", log_out: "Log out",
    enable_notifications: "Enable alert notifications", alerts: "Alerts", responses: "Crowd responses", fleet: "Fleet",
    schedules: "Patrol schedules", activity: "Activity", add_schedule: "Add a schedule", name: "Name", zone: "Zone",
    zone_file: "or a GeoJSON file", pattern: "Pattern", altitude_m: "Altitude (m)", every_s: "Every (s)", add: "Add",
    screening_notice: "A drone's skin-temperature reading is a screening hint to be confirmed on the ground, never a diagnosis.",
    ack: "Acknowledge", acked_by: "acknowledged by {by}", state_new: "new", state_acknowledged: "acknowledged",
    state_escalated: "escalated", state_resolved: "resolved", rtl: "Return home", land: "Land", abort_patrol: "Abort patrol",
    approve: "Approve", deny: "Deny", abort: "Abort", link_up: "link up", link_down: "link DOWN", live: "live",
    offline: "offline", armed: "armed", disarmed: "disarmed", alt: "alt", speed: "speed", battery: "battery", mode: "mode",
    mission: "mission item", people: "people", capacity: "capacity", step: "step", count: "count", remove: "Remove",
    next_fire: "next", last_run: "last run", fever_hint: "fever hint", measured: "measured", unmeasured: "not measured",
    confirm_abort: "Abort this response?", wrong_login: "Wrong name or password.", too_many: "Too many failed logins; try again later.",
    refused: "refused", accepted: "accepted", failed: "failed", no_alerts: "No alerts.", no_responses: "No active crowd response.",
    reading: "{temp} ± {unc} °C (screening hint)", broadcast: "broadcast", crowd: "crowd", radius: "radius", confidence: "confidence",
    every: "every {s} s", vehicles: "vehicles", role: "role"
  },
  zh: {
    title: "天眼防疫无人机地面站", user_name: "用户名", password: "密码", log_in: "登录", log_out: "退出",
    enable_notifications: "开启警报通知", alerts: "警报", responses: "人群处置", fleet: "机队",
    schedules: "巡逻计划", activity: "动态", add_schedule: "新增计划", name: "名称", zone: "区域",
    zone_file: "或 GeoJSON 文件", pattern: "航线样式", altitude_m: "高度（米）", every_s: "间隔（秒）", add: "新增",
    screening_notice: "无人机测得的体表温度仅为筛查提示，须由地面人员复核，绝非诊断。",
    ack: "确认", acked_by: "已由 {by} 确认", state_new: "新", state_acknowledged: "已确认",
    state_escalated: "已升级", state_resolved: "已解决", rtl: "返航", land: "降落", abort_patrol: "中止巡逻",
    approve: "批准", deny: "拒绝", abort: "中止", link_up: "链路正常", link_down: "链路中断", live: "实时",
    offline: "离线", armed: "已解锁", disarmed: "未解锁", alt: "高度", speed: "速度", battery: "电量", mode: "模式",
    mission: "航点", people: "人数", capacity: "容量", step: "步骤", count: "人数", remove: "删除",
    next_fire: "下次", last_run: "上次", fever_hint: "发热提示", measured: "已测", unmeasured: "未测",
    confirm_abort: "确定中止此处置？", wrong_login: "用户名或密码错误。", too_many: "登录失败次数过多，请稍后再试。",
    refused: "被拒绝", accepted: "已接受", failed: "失败", no_alerts: "暂无警报。", no_responses: "暂无进行中的人群处置。",
    reading: "{temp} ± {unc} °C（筛查提示）", broadcast: "广播", crowd: "人群", radius: "半径", confidence: "置信度",
    every: "每 {s} 秒", vehicles: "架", role: "角色"
  }
};
