export { LiveView, type LiveOrder, type LivePoint, type LiveRequest, type LiveSummary, type LiveViewOptions } from './live-view.ts'
export { TenantLabels, type TenantLabelsOptions } from './tenant-labels.ts'
export { RequestHandle, callSafely, combineObservers, combineQueryObservers, endQueryObservation, startQueryObservation, type QueryObservation, type QueryObserver, type QueryOutcome, liveViewObserver, observeRequest, steadyObserver, type ObservedRequest, type RequestObservation, type RequestObserver, type RequestOutcome } from './request-observer.ts'
