import { render } from 'preact'
import 'uplot/dist/uPlot.min.css'
import './app.css'
import { App } from './views/app.js'
import { claimDevice, followOtherTabs, restore } from './session/session.js'

followOtherTabs()
await Promise.all([claimDevice(), restore()])
render(<App />, document.getElementById('app')!)
