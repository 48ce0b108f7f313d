// Chinese labels for bpmn-js and its properties panel. bpmn-js ships no translations; it routes every label
// through the `translate` service, so replacing that service with a dictionary lookup translates the UI.
// Labels missing here stay in English.
const ZH = {
  // palette and tools
  'Activate hand tool': '抓手工具', 'Activate lasso tool': '套索工具',
  'Activate create/remove space tool': '创建/删除空间', 'Activate global connect tool': '全局连线工具',
  'Create start event': '创建开始事件', 'Create end event': '创建结束事件', 'Create task': '创建任务',
  'Create gateway': '创建网关', 'Create intermediate/boundary event': '创建中间/边界事件',
  'Create expanded sub-process': '创建展开的子流程', 'Create pool/participant': '创建池/参与者',
  'Create data object reference': '创建数据对象', 'Create data store reference': '创建数据存储',
  'Create group': '创建分组', 'Search in diagram': '在图中搜索',
  // context pad
  'Append task': '追加任务', 'Append end event': '追加结束事件', 'Append gateway': '追加网关',
  'Append intermediate/boundary event': '追加中间/边界事件', 'Append timer intermediate catch event': '追加定时中间事件',
  'Append message intermediate catch event': '追加消息中间事件', 'Append receive task': '追加接收任务',
  'Append signal intermediate catch event': '追加信号中间事件', 'Append conditional intermediate catch event': '追加条件中间事件',
  'Append compensation activity': '追加补偿活动', 'Add text annotation': '添加注释',
  'Connect to other element': '连接到其他元素', 'Connect using association': '用关联连接',
  'Connect using data input association': '用数据输入关联连接', 'Change element': '更改元素类型', 'Delete': '删除',
  'Add lane above': '在上方添加泳道', 'Add lane below': '在下方添加泳道',
  'Divide into two lanes': '分为两个泳道', 'Divide into three lanes': '分为三个泳道',
  'Align elements': '对齐元素', 'Distribute elements horizontally': '水平分布', 'Distribute elements vertically': '垂直分布',
  'Toggle non-interrupting': '切换非中断', 'Open {element}': '打开 {element}',
  'Loop': '循环', 'Parallel multi-instance': '并行多实例', 'Sequential multi-instance': '串行多实例',
  // element types (replace menu)
  'Task': '任务', 'User task': '用户任务', 'Service task': '服务任务', 'Script task': '脚本任务', 'Send task': '发送任务',
  'Receive task': '接收任务', 'Manual task': '手工任务', 'Business rule task': '业务规则任务', 'Call activity': '调用活动',
  'Sub-process': '子流程', 'Sub-process (collapsed)': '子流程（折叠）', 'Sub-process (expanded)': '子流程（展开）',
  'Start event': '开始事件', 'End event': '结束事件', 'Intermediate throw event': '中间抛出事件',
  'Timer start event': '定时开始事件', 'Timer intermediate catch event': '定时中间捕获事件',
  'Timer boundary event': '定时边界事件', 'Timer boundary event (non-interrupting)': '定时边界事件（非中断）',
  'Message start event': '消息开始事件', 'Conditional start event': '条件开始事件', 'Signal start event': '信号开始事件',
  'Exclusive gateway': '排他网关', 'Parallel gateway': '并行网关', 'Inclusive gateway': '包容网关',
  'Event-based gateway': '事件网关', 'Complex gateway': '复杂网关', 'Sequence flow': '顺序流',
  'Default flow': '默认流', 'Conditional flow': '条件流', 'Lane': '泳道', 'Participant': '参与者',
  // properties panel
  'Select an element to edit its properties.': '请选择一个元素以编辑其属性。',
  'Multiple elements are selected. Select a single element to edit its properties.': '已选中多个元素，请只选择一个以编辑属性。',
  'General': '常规', 'Name': '名称', 'ID': '编号', 'Documentation': '文档', 'Element documentation': '元素说明',
  'Process name': '流程名称', 'Process ID': '流程编号', 'Executable': '可执行', 'Version tag': '版本标签',
  'ID must not be empty.': '编号不能为空。', 'ID must be unique.': '编号必须唯一。',
  'ID must not contain spaces.': '编号不能包含空格。', 'ID must be a valid QName.': '编号必须是合法的 QName。',
  'Forms': '表单', 'Form fields': '表单字段', 'Form key': '表单键', 'Form type': '表单类型', 'Form': '表单',
  'Label': '标签', 'Type': '类型', 'Default value': '默认值', 'Custom type': '自定义类型', '<custom type>': '<自定义类型>',
  'Constraints': '约束', 'Config': '配置', 'Values': '选项', 'Value': '值', 'Properties': '属性',
  'Extension properties': '扩展属性', 'Key': '键', 'Create new list item': '新增一项', 'Delete item': '删除此项',
  'Toggle list item': '展开/收起', 'Toggle section': '展开/收起', 'Create': '新建',
  'Open pop-up editor': '在弹出窗口中编辑', 'List contains {numOfItems} item': '共 {numOfItems} 项',
  'List contains {numOfItems} items': '共 {numOfItems} 项',
  'Generated Task Forms': '生成的任务表单', 'Embedded or External Task Forms': '嵌入或外部表单', 'Camunda Forms': 'Camunda 表单',
  'Timer': '定时器', 'Date': '日期', 'Duration': '时长', 'Cycle': '周期', '<none>': '<无>', '<empty>': '<空>',
  'Condition': '条件', 'Condition type': '条件类型', 'Condition Expression': '条件表达式', 'Condition expression': '条件表达式',
  'Expression': '表达式', 'Script': '脚本', 'Format': '格式', 'Script type': '脚本类型', 'Inline script': '内联脚本',
  'External resource': '外部资源', 'Resource': '资源', 'Result variable': '结果变量',
  'Multi-instance': '多实例', 'Loop cardinality': '循环次数', 'Collection': '集合', 'Element variable': '元素变量',
  'Completion condition': '完成条件', 'Implementation': '实现', 'Inputs': '输入', 'Outputs': '输出',
  'User assignment': '办理人设置', 'Assignee': '办理人', 'Candidate groups': '候选组', 'Candidate users': '候选用户',
  'Due date': '到期日', 'Follow up date': '跟进日期', 'Priority': '优先级',
  'Asynchronous continuations': '异步延续', 'Asynchronous before': '之前异步', 'Asynchronous after': '之后异步',
  'Exclusive': '排他', 'Before': '之前', 'After': '之后', 'Retry time cycle': '重试周期', 'Job execution': '作业执行', 'Execution listeners': '执行监听器', 'Task listeners': '任务监听器',
  'Process variables': '流程变量', 'Message': '消息', 'Signal': '信号', 'Error': '错误', 'Escalation': '升级', 'Variable name': '变量名',
  'Start initiator': '发起人', 'Initiator': '发起人变量', 'Candidate starter': '候选发起人',
  'History cleanup': '历史清理', 'Time to live': '保留时间', 'Tasklist': '任务列表', 'Startable': '可启动',
  'Section contains an error': '此部分有错误', 'Section contains edits': '此部分已修改',
  'Open documentation': '打开文档', 'Learn more.': '了解更多。', 'How to configure a timer': '如何配置定时器',
  'string': '字符串', 'long': '整数', 'boolean': '布尔', 'date': '日期', 'enum': '枚举',
  'A specific point in time defined as ISO 8601 combined date and time representation.':
    '某一时刻。本系统中为 Python 表达式，例如 due_at(rules[\'reply\'], assigned_on)。',
  'A time duration defined as ISO 8601 durations format.': '一段时长。本系统中为 Python 表达式，字面值须加引号，例如 \'P3D\'。',
  'A cycle defined as ISO 8601 repeating intervals format.': '重复周期。本系统中为 Python 表达式，例如 \'R3/P1D\'。',
};

export default function translate(template, replacements) {
  const text = ZH[template] || template;
  return text.replace(/{([^}]+)}/g, (_, key) => (replacements && key in replacements ? replacements[key] : `{${key}}`));
}

export const translateModule = { translate: ['value', translate] };

// A few buttons of the properties panel take their title from the library's own fallback, not from the
// `translate` service; translating those titles as the panel draws them keeps the panel all Chinese.
export function translateTitles(root) {
  const fix = (el) => {
    const count = /^List contains (\d+) items?$/.exec(el.title);  // already filled in by the fallback
    if (count) el.title = translate('List contains {numOfItems} items', { numOfItems: count[1] });
    else if (ZH[el.title]) el.title = ZH[el.title];
  };
  const sweep = (node) => {
    if (node.nodeType !== 1) return;
    if (node.title) fix(node);
    node.querySelectorAll('[title]').forEach(fix);
  };
  sweep(root);
  new MutationObserver((changes) => changes.forEach((c) => {
    if (c.type === 'attributes') fix(c.target);
    c.addedNodes.forEach(sweep);
  })).observe(root, { subtree: true, childList: true, attributes: true, attributeFilter: ['title'] });
}
