export { LiveView, type LiveOrder, type LivePoint, type LiveRequest, type LiveSummary, type LiveViewOptions } from './live-view.ts'
export { TenantLabels, type TenantLabelsOptions } from './tenant-labels.ts'
